// What a playwright script needs to drive a real ComfyUI page with the pack: headless Chromium on a
// throwaway profile, the page opened once the pack's extension is in, screenshots, and one JSON line
// of what was seen (an error becomes `error` plus a screenshot). Environment: COMFY_URL, SHOTS_DIR, PHASE.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { chromium } from 'playwright-core'

const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** Runs `steps({page, seen, shot, inPage, context})` on a ComfyUI page and prints what it saw. */
export async function withComfyPage(steps, { permissions = [] } = {}) {
  const { COMFY_URL, SHOTS_DIR, PHASE = 'first' } = process.env
  const seen = { pageErrors: [] }
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'apikley-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS, viewport: { width: 1500, height: 950 }
  })
  if (permissions.length) await context.grantPermissions(permissions, { origin: new URL(COMFY_URL).origin })
  const page = context.pages()[0] ?? await context.newPage()
  page.on('pageerror', (err) => seen.pageErrors.push(String(err.stack ?? err)))
  const shot = (name, options = {}) => page.screenshot({ path: path.join(SHOTS_DIR, name), ...options })
  const inPage = (fn, arg) => page.evaluate(fn, arg)
  try {
    await page.goto(COMFY_URL)
    // ready: the pack's extension and node types are in, and the startup workflow is loaded (a graph
    // put in place before that would be replaced by it)
    await page.waitForFunction(() => {
      const app = window.comfyAPI?.app?.app
      return app?.graph && app.extensions?.some((e) => e.name === 'apikley.wan26') &&
        window.LiteGraph?.registered_node_types?.ApikleyWan26V2V && app.extensionManager?.workflow?.activeWorkflow
    }, null, { timeout: 90000 })
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
