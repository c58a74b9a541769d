// The run's total before Run, the confirmation dialog and the Settings entries of issue 10, in a real
// ComfyUI page over the simulator (key already saved). Started by tests/test_browser_run_total.py,
// which owns ComfyUI, the simulator and the assertions; prints what it saw as one JSON line.
import { withComfyPage } from './comfy_page.mjs'

const { CLIP_NAME } = process.env
const WIDE = { clip: { x: 0, y: 0, width: 1500, height: 620 } }

await withComfyPage(async ({ page, seen, shot, inPage }) => {
  const chip = page.locator('.apikley-run-total')
  const chipText = () => chip.textContent()
  const waitChip = (pattern) => page.waitForFunction((source) => new RegExp(source)
    .test(document.querySelector('.apikley-run-total')?.textContent ?? ''), pattern.source, { timeout: 30000 })
  const setWidget = (id, name, value) => inPage(({ id, name, value }) => {
    const node = window.comfyAPI.app.app.graph.getNodeById(id)
    const widget = node.widgets.find((w) => w.name === name)
    widget.value = value
    widget.callback?.(value)
    node.setDirtyCanvas(true, true)
  }, { id, name, value })
  const history = () => inPage(async () => Object.keys(await window.comfyAPI.api.api.getHistory(50) ?? {}).length)
  const openSettings = async () => {
    await inPage(() => window.comfyAPI.app.app.extensionManager.command.execute('Comfy.ShowSettingsDialog'))
    await page.getByText('apikley Wan 2.6', { exact: true }).first().click()
  }
  // the frontend's own Run button: 1.58 marks it, 1.27's is the split button's main half
  const clickRun = async () => {
    const modern = page.locator('[data-testid="queue-button"]')
    await (await modern.count() ? modern.first() : page.locator('.comfyui-queue-button button').first()).click()
  }
  await inPage(() => {
    window.__reports = []
    window.__errors = []
    const { api } = window.comfyAPI.api
    api.addEventListener('apikley.task', (e) => window.__reports.push(e.detail))
    api.addEventListener('execution_error', (e) => window.__errors.push(e.detail?.exception_message ?? ''))
  })

  // 1. Two all-in-one nodes on one Load Video: 5 s 720p and 10 s 1080p.
  const ids = await inPage(({ clip }) => {
    const { LiteGraph } = window
    const app = window.comfyAPI.app.app
    app.graph.clear()
    const add = (type, pos, prompt) => {
      const node = LiteGraph.createNode(type)
      node.pos = pos
      app.graph.add(node)
      if (prompt) node.widgets.find((w) => w.name === 'prompt').value = prompt
      return node
    }
    const load = add('LoadVideo', [40, 80])
    const a = add('ApikleyWan26V2V', [420, 60], 'character1 dances in the rain')
    const b = add('ApikleyWan26V2V', [820, 60], 'character1 walks on the beach')
    load.widgets.find((w) => w.name === 'file').value = clip
    for (const wan of [a, b]) load.connect(0, wan, wan.inputs.findIndex((i) => i.name === 'video'))
    b.widgets.find((w) => w.name === 'duration').value = '10'
    b.widgets.find((w) => w.name === 'resolution').value = '1080p'
    app.canvas.ds.offset = [20, 60]
    app.canvas.ds.scale = 0.9
    app.graph.setDirtyCanvas(true, true)
    return { a: a.id, b: b.id }
  }, { clip: CLIP_NAME })
  seen.ids = ids
  await waitChip(/^Run: ~\$1\.40/)
  seen.total = await chipText()
  // placed again at every tick: the Run button may be re-rendered for a moment as the graph changes
  seen.anchored = await page.waitForFunction(() => document.querySelector('.apikley-run-total')?.dataset.anchored ===
    'queue-button', null, { timeout: 5000 }).then(() => 'queue-button', async () => chip.getAttribute('data-anchored'))
  seen.badge = await inPage((id) => window.__view.costText(id), ids.a) // as drawn (Nodes 2.0: the node's DOM)
  await shot('run_total_1_badge_by_run_button.png', WIDE)

  // 2. Batch count 2, typed where the frontend keeps it: identical inputs still pay once.
  const batch = page.locator('.batch-count input').first()
  const typeBatch = async (count) => {
    await batch.click({ clickCount: 3 })
    await page.keyboard.type(String(count))
    await page.keyboard.press('Tab')
  }
  await typeBatch(2)
  await waitChip(/batch ×2/)
  seen.batch2 = await chipText()
  seen.batchArg = await inPage(() => new Promise((resolve) => {
    // what the Run path hands to queuePrompt, without queueing (the wrapped function is replaced for one call)
    const app = window.comfyAPI.app.app
    const wrapped = app.queuePrompt
    app.queuePrompt = async (number, count) => { app.queuePrompt = wrapped; resolve(count); return false }
    window.comfyAPI.app.app.extensionManager.command.execute('Comfy.QueuePrompt')
  }))
  await typeBatch(1)
  await waitChip(/^Run: ~\$1\.40(?!.*batch)/)

  // 3. A bypassed node drops out of the total.
  await inPage((id) => { window.comfyAPI.app.app.graph.getNodeById(id).mode = 4 }, ids.b)
  await waitChip(/^Run: ~\$0\.35/)
  seen.bypassed = await chipText()
  await inPage((id) => { window.comfyAPI.app.app.graph.getNodeById(id).mode = 0 }, ids.b)
  await waitChip(/^Run: ~\$1\.40/)

  // 4. Above $2 (both 10 s 1080p: $2.10) the Run button asks first; Cancel queues nothing, Run queues.
  await setWidget(ids.a, 'duration', '10')
  await setWidget(ids.a, 'resolution', '1080p')
  await waitChip(/^Run: ~\$2\.10/)
  seen.historyBefore = await history()
  await clickRun()
  const dialog = page.locator('.apikley-confirm')
  await dialog.waitFor({ timeout: 30000 })
  seen.dialog = await dialog.innerText()
  await shot('run_total_2_confirm_dialog.png')
  await dialog.getByRole('button', { name: 'Cancel' }).click()
  await page.waitForTimeout(2500)
  seen.afterCancel = { dialogs: await dialog.count(), history: await history(), reports: await inPage(() => window.__reports.length),
    queue: await inPage(async () => (await window.comfyAPI.api.api.getQueue()).Pending.length) }
  await clickRun()
  await dialog.waitFor({ timeout: 30000 })
  await dialog.getByRole('button', { name: 'Run', exact: true }).click()
  await page.waitForFunction(() => window.__reports.filter((r) => r.state === 'success').length >= 2, null, { timeout: 240000 })
  seen.outcomes = await inPage(() => window.__reports.map((r) => r.outcome))
  // 5. The same graph again: both nodes re-use their results, the total says so.
  await waitChip(/no new charge/)
  seen.reused = await chipText()
  await shot('run_total_3_reused_total.png', WIDE)

  // 6. Settings: the price override is saved on the server; a bad entry is named in place and saves nothing.
  await page.getByText(/^apikley task \S+ finished$/).first().waitFor({ state: 'detached', timeout: 20000 })
    .catch(() => {}) // the paid runs' toasts would cover the entries in the screenshots
  await openSettings()
  const override = page.locator('input.apikley-price-override')
  await override.waitFor({ timeout: 30000 })
  await override.scrollIntoViewIfNeeded()
  const overrideEntry = override.locator('xpath=ancestor::div[contains(@class,"apikley-entry")][1]')
  await override.fill('5/720p=60, hd=5')
  await page.getByRole('button', { name: 'Save override' }).click()
  const refusedOverride = overrideEntry.locator('.apikley-result[data-state="error"]')
  await refusedOverride.waitFor({ timeout: 30000 })
  seen.pricesError = await refusedOverride.innerText()
  seen.pricesErrorColor = await refusedOverride.evaluate((e) => getComputedStyle(e).color)
  await override.fill('5/720p=60')
  await page.getByRole('button', { name: 'Save override' }).click()
  await overrideEntry.locator('.apikley-result[data-state="ok"]').waitFor({ timeout: 30000 })
  const prices = page.locator('.apikley-prices')
  await prices.waitFor({ timeout: 30000 })
  seen.pricesText = await prices.innerText()
  seen.keyEntry = await page.locator('.apikley-entry').first().innerText()
  await page.locator('.apikley-entry').first().scrollIntoViewIfNeeded()
  await shot('run_total_4_settings_key_and_prices.png')
  await setWidget(ids.a, 'duration', '5') // the badge under the open dialog: the saved table prices it
  await setWidget(ids.a, 'resolution', '720p')
  await page.waitForFunction((id) => /60 credits/.test(window.__view.costText(id) ?? ''), ids.a, { timeout: 5000 }).catch(() => {})
  seen.badgeOverride = await inPage((id) => window.__view.costText(id), ids.a)

  // 7. The budget guard in Settings: a per-session cap below this run's cost refuses it before upload.
  seen.budgetRoute = (await inPage(async () => (await window.comfyAPI.api.api.fetchApi('/apikley_wan/budget')).status)) === 200
  if (seen.budgetRoute) {
    const session = page.locator('input.apikley-cap[name="session_usd"]')
    await session.scrollIntoViewIfNeeded()
    await session.fill('1')
    await page.getByRole('button', { name: 'Save caps' }).click()
    await page.locator('.apikley-budget ~ .apikley-row .apikley-result[data-state="ok"]').waitFor({ timeout: 30000 })
    seen.budgetEntry = await page.locator('.apikley-budget').innerText()
    await shot('run_total_5_settings_budget.png')
    await page.keyboard.press('Escape')
    await setWidget(ids.a, 'take', 1) // new inputs: a new paid task, $0.30 by the override
    await clickRun()
    await dialog.waitFor({ timeout: 30000 })
    seen.budgetDialog = await dialog.innerText()
    await shot('run_total_6_dialog_budget_refusal.png')
    await dialog.getByRole('button', { name: 'Run anyway' }).click()
    await page.waitForFunction(() => window.__errors.length, null, { timeout: 120000 })
    seen.refused = await inPage(() => window.__errors)
    await openSettings()
    await page.locator('input.apikley-cap[name="session_usd"]').fill('')
    await page.getByRole('button', { name: 'Save caps' }).click()
    await page.locator('.apikley-budget ~ .apikley-row .apikley-result[data-state="ok"]').waitFor({ timeout: 30000 })
  }

  // 8. Remove key.
  await page.getByRole('button', { name: 'Remove key' }).click()
  await page.getByText('No key yet').first().waitFor({ timeout: 30000 })
  seen.removed = await page.locator('.apikley-entry').first().innerText()
  await shot('run_total_7_key_removed.png')
})
