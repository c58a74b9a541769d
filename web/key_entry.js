// The "API key" settings entry: a masked field that posts the key to the pack's server route,
// which validates it with the API before saving it to the key file. The typed key is never
// handed to the settings store (so it is not written to comfy.settings.json), never logged, and
// the field is cleared once the key is saved. Remove key deletes the saved key file; the entry
// also says when the pack talks to a simulator (no real credits).
import { h } from './dom.js'
import { balanceText } from './lib/format.js'
import { cleanKey, keyStatusText, maskKey } from './lib/key.js'
import { getBalance, getJson, postJson } from './pack_api.js'
import { apiKind } from './prices_state.js'

export function renderKeyEntry({ openTasks }) {
  const input = h('input', {
    type: 'text', className: 'apikley-input apikley-key', placeholder: 'Paste your apikley API key',
    autocomplete: 'off', spellcheck: false
  })
  // masked without being a password field, which the browser would offer to store
  input.style.setProperty('-webkit-text-security', 'disc')
  const save = h('button', { className: 'apikley-button', textContent: 'Check & save' })
  const status = h('div', { className: 'apikley-note', textContent: 'Reading key status…' })
  const balance = h('div', { className: 'apikley-note' })
  const result = h('div', { className: 'apikley-note apikley-result', role: 'status' })
  const remove = h('button', { className: 'apikley-button', textContent: 'Remove key' })
  const tasks = h('button', { className: 'apikley-link', textContent: 'Recent tasks…', onclick: openTasks })
  const simulator = h('div', { className: 'apikley-note apikley-simulator',
    textContent: 'Simulator — no real credits: the API at APIKLEY_BASE_URL says it is the pack\'s simulator, not the paid API.' })
  simulator.hidden = apiKind() !== 'simulator'

  async function showStatus() {
    const key = await getJson('key')
    status.textContent = keyStatusText(key)
    remove.disabled = key.source === 'none' // for an environment key the answer says it cannot be removed here
    balance.textContent = key.source === 'none' ? '' : `Balance: ${balanceText(await getBalance())}`
  }

  async function submit() {
    const cleaned = cleanKey(input.value)
    if (!cleaned.ok) {
      result.textContent = cleaned.msg
      return
    }
    save.disabled = true
    result.dataset.state = 'busy'
    result.textContent = `Checking ${maskKey(cleaned.key)} with the API…`
    const answer = await postJson('key', { key: cleaned.key })
    save.disabled = false
    result.dataset.state = answer.ok ? 'ok' : 'error'
    result.textContent = answer.msg ?? (answer.ok ? 'Saved.' : 'Not saved.')
    if (answer.ok) input.value = ''
    await showStatus()
  }

  async function removeKey() {
    remove.disabled = true
    const answer = await postJson('key/remove', {})
    result.dataset.state = answer.ok ? 'ok' : 'error'
    result.textContent = answer.msg ?? (answer.ok ? 'Removed.' : 'Not removed.')
    await showStatus()
  }

  save.onclick = submit
  remove.onclick = removeKey
  input.onkeydown = (event) => { if (event.key === 'Enter') submit() }
  void showStatus()
  return h('div', { className: 'apikley-entry apikley-key-entry' },
    h('div', { className: 'apikley-row' }, input, save, remove), simulator, status, balance, result, tasks)
}
