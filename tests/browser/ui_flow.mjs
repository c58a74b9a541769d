// Drives a real ComfyUI page with the pack's extension, the way a user would, and prints what it
// saw as one JSON line. Started by tests/test_browser.py, which owns ComfyUI, the simulator and
// the assertions. Environment: COMFY_URL, SHOTS_DIR, WRONG_KEY, RIGHT_KEY, CLIP_NAME, WORKFLOW_FILE,
// PHASE: "first" (default: key, cost badge, a paid run, the tasks panel; the graph is written to
// WORKFLOW_FILE), "reuse" (after ComfyUI restarted: the same graph again, re-used for free) or
// "cancel" (a new prompt: the old result leaves the node, Cancel, then a free re-attach).
import fs from 'node:fs'

import { withComfyPage } from './comfy_page.mjs'

const { WRONG_KEY, RIGHT_KEY, CLIP_NAME, WORKFLOW_FILE, PHASE = 'first' } = process.env
// the page, set by withComfyPage for the phase's steps below
let page, seen, shot, inPage, toastTitles

const SUMMARY = 'apikley_summary' // the summary widget web/node_labels.js adds
const STATUS = '$$node-text-preview' // the frontend's status-line box

// what the node's summary says, its tone and the colour it is shown in; null before there is one
const summaryOf = (id) => inPage(({ id, name }) => {
  const w = window.comfyAPI.app.app.graph.getNodeById(id)?.widgets?.find((x) => x.name === name)
  if (!w?.element?.textContent) return null
  return { text: w.element.textContent, tone: w.element.dataset.tone, color: getComputedStyle(w.element).color }
}, { id, name: SUMMARY })
// the run's summary: the node's status area once it no longer shows a live status line
const waitForSummary = (id) => page.waitForFunction(({ id, name }) => {
  const element = window.comfyAPI.app.app.graph.getNodeById(id)?.widgets?.find((x) => x.name === name)?.element
  return element?.textContent && element.dataset.tone !== 'live'
}, { id, name: SUMMARY }, { timeout: 180000 })
const hasWidget = (id, name) => inPage(({ id, name }) =>
  !!window.comfyAPI.app.app.graph.getNodeById(id)?.widgets?.some((w) => w.name === name), { id, name })
// whether the node plays a video, as drawn (classic: the frontend's player widget; Nodes 2.0: the node's DOM)
const hasPreview = (id) => inPage((id) => !!window.__view.videoBox(id), id)
const waitForPreview = (id, timeout = 30000) => page.waitForFunction((id) => !!window.__view.videoBox(id), id, { timeout })
// the boxes the page draws for the Wan node, its video and summary, and what lies around them
const drawnBoxes = (ids) => inPage((ids) => {
  const v = window.__view
  return { wan: v.nodeBox(ids.wan), wanVideo: v.videoBox(ids.wan), wanSummary: v.summaryBox(ids.wan),
    save: v.nodeBox(ids.save), saveVideo: v.videoBox(ids.save), load: v.nodeBox(ids.load) }
}, ids)
// the run-total chip and every toast on screen, while a toast shows; `covering`: what the page shows
// on top at points across the chip, where that is not the chip (hit-tested with its pointer events on)
const chipAndToasts = () => inPage(() => {
  const box = (e) => { const r = e.getBoundingClientRect(); return { left: r.left, top: r.top, right: r.right, bottom: r.bottom } }
  const chip = document.querySelector('.apikley-run-total')
  const shown = chip && !chip.hidden ? box(chip) : null
  const covering = []
  if (shown) {
    chip.style.pointerEvents = 'auto'
    const y = (shown.top + shown.bottom) / 2
    for (const f of [0.1, 0.5, 0.9]) {
      const top = document.elementFromPoint(shown.left + f * (shown.right - shown.left), y)
      if (top && !chip.contains(top)) covering.push(`${top.tagName}.${[...top.classList].join('.')}`)
    }
    chip.style.pointerEvents = ''
  }
  return { chip: shown, chipText: chip?.textContent ?? '', covering,
    toasts: [...document.querySelectorAll('.p-toast-message')].map(box).filter((b) => b.right > b.left) }
})
// the pack's "task finished" toasts on screen, title and detail (found by their words: the toast
// markup differs between frontends)
const taskToasts = () => toastTitles.locator('xpath=..').allInnerTexts()
// nothing of the summary may reach the prompt (the run's fingerprint) nor the saved workflow
const promptAndWorkflow = () => inPage(async () => {
  const { output, workflow } = await window.comfyAPI.app.app.graphToPrompt()
  return JSON.stringify({ output, workflow })
})

await withComfyPage(async (driven) => {
  ({ page, seen, shot, inPage } = driven)
  toastTitles = page.getByText(/^apikley task \S+ finished$/)
  if (PHASE === 'reuse') await reuse()
  else if (PHASE === 'cancel') await cancelThenReattach()
  else await first()
  seen.storage = await inPage(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } }))
})

async function first() {
  // 1. The key, through Settings: a wrong key is refused, the right one checked and saved.
  await inPage(() => window.comfyAPI.app.app.extensionManager.command.execute('Comfy.ShowSettingsDialog'))
  await page.getByText('apikley Wan 2.6', { exact: true }).first().click()
  const field = page.locator('.apikley-key')
  const result = page.locator('.apikley-key-entry .apikley-result')
  await field.fill(WRONG_KEY)
  await page.getByRole('button', { name: 'Check & save' }).click()
  await page.locator('.apikley-key-entry .apikley-result[data-state="error"]').waitFor({ timeout: 30000 })
  seen.refused = await result.textContent()
  await shot('1_settings_key_refused.png')
  await field.fill(RIGHT_KEY)
  await page.getByRole('button', { name: 'Check & save' }).click()
  await page.locator('.apikley-key-entry .apikley-result[data-state="ok"]').waitFor({ timeout: 30000 })
  await page.getByText(/^Balance: .*credits/).waitFor({ timeout: 30000 })
  seen.saved = await result.textContent()
  seen.entryText = await page.locator('.apikley-key-entry').innerText()
  seen.fieldAfterSave = await field.inputValue()
  await shot('2_settings_key_saved.png')
  await page.keyboard.press('Escape')

  // 2. A workflow: Load Video -> Wan 2.6 V2V (all-in-one) -> Save Video; the cost badge follows the widgets.
  const ids = await inPage(({ clip }) => {
    const { LiteGraph } = window
    const app = window.comfyAPI.app.app
    app.graph.clear()
    const add = (type, pos) => {
      const node = LiteGraph.createNode(type)
      node.pos = pos
      app.graph.add(node)
      return node
    }
    const load = add('LoadVideo', [40, 80])
    const wan = add('ApikleyWan26V2V', [420, 80])
    const save = add('SaveVideo', [900, 80])
    load.widgets.find((w) => w.name === 'file').value = clip
    wan.widgets.find((w) => w.name === 'prompt').value = 'character1 dances in the rain'
    load.connect(0, wan, wan.inputs.findIndex((i) => i.name === 'video'))
    wan.connect(0, save, save.inputs.findIndex((i) => i.name === 'video'))
    app.canvas.ds.offset = [20, 40]
    app.canvas.ds.scale = 1
    app.graph.setDirtyCanvas(true, true)
    return { load: load.id, wan: wan.id, save: save.id }
  }, { clip: CLIP_NAME })
  // the text of the node's cost badge as drawn (Nodes 2.0: read from the node's DOM)
  const costLabel = () => inPage((id) => window.__view.costText(id), ids.wan)
  const setWidget = async (name, value) => {
    const before = await costLabel()
    await inPage(({ id, name, value }) => {
      const node = window.comfyAPI.app.app.graph.getNodeById(id)
      const widget = node.widgets.find((w) => w.name === name)
      widget.value = value
      widget.callback?.(value)
      node.setDirtyCanvas(true, true)
    }, { id: ids.wan, name, value })
    // the page redraws the badge: a DOM one a frame or two later
    await page.waitForFunction(({ id, before }) => window.__view.costText(id) !== before, { id: ids.wan, before },
      { timeout: 3000 }).catch(() => {})
  }
  await page.waitForFunction((id) => window.__view.costText(id), ids.wan) // once the prices are loaded
  seen.cost = { initial: await costLabel() }
  await setWidget('duration', '10')
  seen.cost.duration10 = await costLabel()
  await setWidget('resolution', '1080p')
  seen.cost.duration10_1080p = await costLabel()
  await setWidget('duration', '5')
  await setWidget('resolution', '720p')
  seen.cost.back = await costLabel()

  // 3. Run it from the UI; collect the status lines the node receives.
  await inPage(() => {
    window.__apikleyLines = []
    window.comfyAPI.api.api.addEventListener('progress_text', (e) => window.__apikleyLines.push(e.detail))
  })
  await inPage(() => window.comfyAPI.app.app.queuePrompt(0, 1))
  const statusText = async () => (await summaryOf(ids.wan))?.text ?? ''
  await page.waitForFunction((id) => window.__apikleyLines.some((l) => String(l.nodeId) === String(id) &&
    /elapsed/.test(l.text)), ids.wan, { timeout: 120000 })
  await page.waitForFunction(({ id, name }) => window.comfyAPI.app.app.graph.getNodeById(id)?.widgets
    ?.find((x) => x.name === name)?.element?.dataset.tone === 'live', { id: ids.wan, name: SUMMARY })
  seen.liveStatus = await statusText()
  seen.liveTone = (await summaryOf(ids.wan))?.tone
  seen.statusBoxWhileLive = await hasWidget(ids.wan, STATUS)
  await shot('3_node_cost_and_live_status.png', { clip: { x: 0, y: 0, width: 1500, height: 700 } })
  // the run's report becomes the summary: a new charge, in amber, and a toast with the balance
  await waitForSummary(ids.wan)
  seen.summary = await summaryOf(ids.wan)
  await toastTitles.first().waitFor({ timeout: 30000 })
  seen.toasts = await taskToasts()
  seen.chipUnderToast = await chipAndToasts()
  seen.lines = await inPage((id) => window.__apikleyLines
    .filter((l) => String(l.nodeId) === String(id)).map((l) => l.text), ids.wan)
  await page.waitForTimeout(1500) // the Save Video preview loads; a late status line would show by now
  seen.statusBoxAfterRun = await hasWidget(ids.wan, STATUS)
  await waitForPreview(ids.wan).catch(() => {})
  await waitForPreview(ids.save).catch(() => {})
  seen.videoPreviews = { wan: await hasPreview(ids.wan), save: await hasPreview(ids.save) }
  seen.boxes = await drawnBoxes(ids)
  await shot('4_node_summary_after_run.png', { clip: { x: 0, y: 0, width: 1500, height: 820 } })
  seen.workflow = await inPage(() => JSON.stringify(window.comfyAPI.app.app.graph.serialize()))
  seen.promptAndWorkflow = await promptAndWorkflow()
  fs.writeFileSync(WORKFLOW_FILE, seen.workflow)
  fs.writeFileSync(`${WORKFLOW_FILE}.ids`, JSON.stringify(ids))
  seen.ids = ids

  // 4. The recent-tasks sidebar tab; a finished task whose file is gone is downloaded again.
  await inPage(() => window.comfyAPI.app.app.extensionManager.command
    .execute('Workspace.ToggleSidebarTab.apikley-tasks'))
  const firstCard = page.locator('.apikley-task').first()
  await page.locator('.apikley-task[data-state="success"]').first().waitFor({ timeout: 30000 })
  seen.panelRow = await firstCard.innerText()
  seen.panelText = await page.locator('.apikley-panel').innerText()
  await shot('5_recent_tasks_panel.png')
  const resultPath = await firstCard.locator('.apikley-file').getAttribute('title')
  fs.unlinkSync(resultPath)
  await page.getByRole('button', { name: 'Refresh' }).click()
  await page.getByRole('button', { name: 'Download again' }).click()
  await page.locator('.apikley-panel .apikley-result[data-state="ok"]').waitFor({ timeout: 60000 })
  seen.collected = await page.locator('.apikley-panel .apikley-result').textContent()
  seen.fileRestored = fs.existsSync(resultPath)
  await shot('6_recent_tasks_after_collect.png')

  // 5. The same panel as a dialog from Settings (what remains where the sidebar API is missing).
  await inPage(() => window.comfyAPI.app.app.extensionManager.command.execute('Comfy.ShowSettingsDialog'))
  await page.getByText('apikley Wan 2.6', { exact: true }).first().click()
  await page.getByRole('button', { name: 'Recent tasks…' }).click()
  await page.locator('.apikley-dialog .apikley-task[data-state="success"]').waitFor({ timeout: 30000 })
  await shot('7_recent_tasks_dialog_from_settings.png')
  await page.locator('.apikley-dialog').getByRole('button', { name: 'Close' }).click()
  seen.dialogClosed = await page.locator('.apikley-dialog').count() === 0
}

// The graph the first phase saved, into the open tab; its node ids.
async function loadSavedGraph() {
  await inPage((workflow) => {
    const app = window.comfyAPI.app.app
    app.graph.configure(JSON.parse(workflow))
    app.canvas.ds.offset = [20, 40]
    app.canvas.ds.scale = 1
    app.graph.setDirtyCanvas(true, true)
  }, fs.readFileSync(WORKFLOW_FILE, 'utf8'))
  await page.waitForTimeout(1000)
  return JSON.parse(fs.readFileSync(`${WORKFLOW_FILE}.ids`, 'utf8'))
}

// After a restart (an empty cache, the same user folder and journal): the same graph runs again,
// finds its result in the journal and says so — no charge, in green, and no cost toast.
async function reuse() {
  const ids = await loadSavedGraph()
  seen.loaded = await inPage((id) => window.comfyAPI.app.app.graph.getNodeById(id)?.comfyClass, ids.wan)
  seen.summaryBeforeRun = await summaryOf(ids.wan)
  await inPage(() => window.comfyAPI.app.app.queuePrompt(0, 1))
  await waitForSummary(ids.wan)
  seen.summary = await summaryOf(ids.wan)
  await page.waitForTimeout(3000) // a cost toast, were there one, would show by now
  seen.toasts = await taskToasts()
  seen.boxes = await drawnBoxes(ids)
  seen.statusBoxAfterRun = await hasWidget(ids.wan, STATUS)
  seen.promptAndWorkflow = await promptAndWorkflow()
  await shot('8_node_summary_reused.png', { clip: { x: 0, y: 0, width: 1500, height: 820 } })
}

// A new prompt (a new, paid task): the old video and summary leave the node as the run starts;
// Cancel once the task exists says so (note and toast); re-queuing re-attaches for free.
async function cancelThenReattach() {
  const ids = await loadSavedGraph()
  // a paid run with a new prompt (ComfyUI cached the saved graph's outputs), so the node shows a
  // result and a summary before the next run
  const setPrompt = (text) => inPage(({ id, text }) => {
    window.comfyAPI.app.app.graph.getNodeById(id).widgets.find((w) => w.name === 'prompt').value = text
  }, { id: ids.wan, text })
  await setPrompt('character1 dances in the sun')
  await inPage(() => window.comfyAPI.app.app.queuePrompt(0, 1))
  await waitForSummary(ids.wan)
  await waitForPreview(ids.wan)
  await setPrompt('character1 dances in the snow')
  seen.previewBeforeSecondRun = await hasPreview(ids.wan)
  await inPage(() => window.comfyAPI.app.app.queuePrompt(0, 1))
  await page.waitForFunction(({ id, name }) => {
    const el = window.comfyAPI.app.app.graph.getNodeById(id)?.widgets?.find((x) => x.name === name)?.element
    return el?.dataset.tone === 'live' && /task [0-9a-f]{6}/.test(el.textContent)
  }, { id: ids.wan, name: SUMMARY }, { timeout: 60000 })
  seen.duringSecondRun = { summary: await summaryOf(ids.wan), preview: await hasPreview(ids.wan) }
  await shot('9_new_run_cleared_live_status.png', { clip: { x: 0, y: 0, width: 1500, height: 820 } })
  await inPage(() => window.comfyAPI.api.api.interrupt())
  const cancelToast = page.getByText('apikley run cancelled', { exact: true })
  await cancelToast.first().waitFor({ timeout: 30000 })
  seen.cancelToast = await cancelToast.first().locator('xpath=..').innerText()
  seen.chipUnderCancelToast = await chipAndToasts()
  await page.waitForFunction(({ id, name }) => /^Cancelled/.test(window.comfyAPI.app.app.graph.getNodeById(id)
    ?.widgets?.find((x) => x.name === name)?.element?.textContent ?? ''), { id: ids.wan, name: SUMMARY })
  seen.cancelSummary = await summaryOf(ids.wan)
  await shot('10_cancelled_task_exists.png', { clip: { x: 0, y: 0, width: 1500, height: 820 } })
  await page.waitForTimeout(1000)
  await inPage(() => window.comfyAPI.app.app.queuePrompt(0, 1))
  await page.waitForFunction(({ id, name }) => {
    const el = window.comfyAPI.app.app.graph.getNodeById(id)?.widgets?.find((x) => x.name === name)?.element
    return el && el.dataset.tone !== 'live' && !/^Cancelled/.test(el.textContent)
  }, { id: ids.wan, name: SUMMARY }, { timeout: 120000 })
  seen.reattached = await summaryOf(ids.wan)
  seen.debugOutputs = await inPage((id) => JSON.stringify(window.comfyAPI.app.app.nodeOutputs?.[String(id)] ?? null), ids.wan)
  seen.reattachedPreview = await waitForPreview(ids.wan, 15000).then(() => true, () => false)
  seen.reattachedBoxes = await drawnBoxes(ids)
  await shot('11_reattached_no_new_charge.png', { clip: { x: 0, y: 0, width: 1500, height: 820 } })
}
