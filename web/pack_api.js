// The pack's server routes (/apikley_wan/...), through ComfyUI's api so the /api prefix and
// the user header are right. Every answer is an object with `ok` and, on failure, `msg`.
import { api } from '../../scripts/api.js'

async function call(path, options) {
  try {
    const resp = await api.fetchApi(`/apikley_wan/${path}`, options)
    const body = await resp.json().catch(() => ({}))
    return { ...body, ok: resp.ok && body.ok !== false, status: resp.status }
  } catch (err) {
    return { ok: false, msg: `ComfyUI did not answer (${err?.message ?? err}).` }
  }
}

export const getJson = (path) => call(path)

export const postJson = (path, body) =>
  call(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body ?? {}) })

/** The balance. A POST, like every route that may ask the API: an <img> on another site cannot send one. */
export const getBalance = ({ refresh = false } = {}) => postJson('credits', { refresh })

/** The address of a pack route for the page itself to load (a video's src). */
export const packUrl = (path) => api.apiURL(`/apikley_wan/${path}`)
