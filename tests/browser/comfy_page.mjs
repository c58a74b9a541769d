// What a playwright script needs to drive a real ComfyUI page with the pack: headless Chromium on a
// throwaway profile, the page opened once the pack's extension is in, screenshots, and one JSON line
// of what was seen (an error becomes `error` plus a screenshot). Environment: COMFY_URL, SHOTS_DIR, PHASE,
// PACK_ABSENT (set: the page has no pack to wait for),
// PACK_WEB (the URL path the pack's web/ files are served from): every console warning or error whose
// stack or location points into it is kept in `packConsole`, for the tests to fail on.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { chromium } from 'playwright-core'

import { installNodeView } from './node_view.mjs'

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Runs `steps({page, seen, shot, inPage, context})` on a ComfyUI page and prints what it saw; the
 *  page has window.__view (node_view.mjs). */
export async function withComfyPage(steps, { permissions = [] } = {}) {
  const { COMFY_URL, SHOTS_DIR, PHASE = 'first' } = process.env
  const seen = { pageErrors: [] }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'apikley-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport: { width: 1500, height: 950 }
  })
  if (permissions.length) await context.grantPermissions(permissions, { origin: new URL(COMFY_URL).origin })
  seen.packConsole = []
  await watchConsole(context, seen.packConsole)
  const page = context.pages()[0] ?? await context.newPage()
  page.on('pageerror', (err) => seen.pageErrors.push(String(err.stack ?? err)))
  const shot = (name, options = {}) => page.screenshot({ path: path.join(SHOTS_DIR, name), ...options })
  const inPage = (fn, arg) => page.evaluate(fn, arg)
  try {
    await page.goto(COMFY_URL)
    // ready: the pack's extension and node types are in, and the startup workflow is loaded (a graph
    // put in place before that would be replaced by it)
    await page.waitForFunction((packAbsent) => {
      const app = window.comfyAPI?.app?.app
      return app?.graph && (packAbsent || (app.extensions?.some((e) => e.name === 'apikley.wan26') &&
        window.LiteGraph?.registered_node_types?.ApikleyWan26V2V)) && app.extensionManager?.workflow?.activeWorkflow
    }, !!process.env.PACK_ABSENT, { timeout: 90000 })
    // a deprecation the frontend already warned about once would stay silent for the pack's own call
    await page.evaluate(() => { window.LiteGraph.alwaysRepeatWarnings = true })
    await installNodeView(page)
    await steps({ page, seen, shot, inPage, context })
  } catch (err) {
    seen.error = String(err.stack ?? err)
    await shot(`error_${PHASE}.png`).catch(() => {})
  } finally {
    await context.close()
    fs.rmSync(userDataDir, { recursive: true, force: true })
  }
  console.log(JSON.stringify(seen))
}

/** Keeps in `kept` each console warning or error the pack's web/ files caused: its stack (taken where
 *  console.warn/error is called, so a frontend's deprecation warning about the pack's call counts) or
 *  its location names PACK_WEB. */
async function watchConsole(context, kept) {
  const { PACK_WEB } = process.env
  if (!PACK_WEB) return
  await context.exposeBinding('__apikleyConsole', (_source, entry) => kept.push(entry))
  await context.addInitScript((packWeb) => {
    for (const type of ['warn', 'error']) {
      const original = console[type]
      console[type] = function (...args) {
        const stack = new Error().stack ?? ''
        if (stack.includes(packWeb)) {
          const text = args.map((a) => (a instanceof Error ? a.stack : typeof a === 'string' ? a : String(a))).join(' ')
          void window.__apikleyConsole?.({ type, text, stack })
        }
        return original.apply(this, args)
      }
    }
  }, PACK_WEB)
  context.on('console', (message) => {
    if (!['warning', 'error'].includes(message.type())) return
    if (message.location()?.url?.includes(PACK_WEB)) kept.push({ type: message.type(), text: message.text(), stack: message.location().url })
  })
}
