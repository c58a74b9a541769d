// Drives the tasks panel in a real ComfyUI page the way a user would, and prints what it saw as one
// JSON line. Started by tests/test_browser_tasks.py, which made a paid, a failed and an uncertain task
// first and owns the assertions. Environment (besides comfy_page.mjs's): DROP_FILE, a copy of the paid
// result under another name, to drop on the panel; LINK_ENTRY, a second lost create, and LINK_TASK, the
// task it made (to link with "I know the task id…").
import fs from 'node:fs'
import path from 'node:path'

import { withComfyPage } from './comfy_page.mjs'

const { DROP_FILE, LINK_ENTRY, LINK_TASK } = process.env
const FIRST_VIDEO = '.apikley-task[data-group="finished"] video'

await withComfyPage(async ({ page, seen, shot, inPage }) => {
  await inPage(() => {
    const app = window.comfyAPI.app.app
    app.graph.clear()
    app.canvas.ds.offset = [0, 0]
    app.canvas.ds.scale = 1
    app.graph.setDirtyCanvas(true, true)
    window.__apikleyRuns = []
    for (const type of ['execution_success', 'execution_error']) {
      window.comfyAPI.api.api.addEventListener(type, () => window.__apikleyRuns.push(type))
    }
  })
  await inPage(() => window.comfyAPI.app.app.extensionManager.command
    .execute('Workspace.ToggleSidebarTab.apikley-tasks'))
  const panel = page.locator('.apikley-panel')
  const card = (group) => panel.locator(`.apikley-task[data-group="${group}"]`).first()
  const message = panel.locator('.apikley-result')
  const messageMatching = (pattern) => page.waitForFunction((source) => new RegExp(source)
    .test(document.querySelector('.apikley-panel .apikley-result')?.textContent ?? ''), pattern.source,
  { timeout: 60000 })
  const filterTo = (name) => panel.locator(`.apikley-filter button[data-filter="${name}"]`).click()
  const shownGroups = () => panel.locator('.apikley-task').evaluateAll((els) => els.map((e) => e.dataset.group))

  // 1. Each task: prompt, when, cost, state, file — and a thumbnail that is the result's first frame.
  for (const group of ['finished', 'failed', 'uncertain']) await card(group).waitFor({ timeout: 30000 })
  const done = card('finished')
  seen.prompt = await done.locator('.apikley-prompt').textContent()
  seen.promptTitle = await done.locator('.apikley-prompt').getAttribute('title')
  seen.whenTitle = await done.locator('.apikley-when').getAttribute('title')
  seen.finishedText = await done.innerText()
  seen.filterLabels = await panel.locator('.apikley-filter button').allInnerTexts()
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel)
    return v && v.readyState >= 2 && v.videoWidth > 0
  }, FIRST_VIDEO, { timeout: 30000 })
  seen.thumb = await done.locator('video').evaluate((v) => ({
    readyState: v.readyState, width: v.videoWidth, paused: v.paused, controls: v.controls, src: v.currentSrc,
    shownWidth: v.getBoundingClientRect().width
  }))
  await shot('tasks_1_sidebar.png')

  // 2. Play: the preview grows to the card's width, with controls and sound.
  await done.getByRole('button', { name: '▶ Play' }).click()
  await page.waitForFunction((sel) => {
    const v = document.querySelector(sel)
    return v && !v.paused && v.currentTime > 0.3
  }, FIRST_VIDEO, { timeout: 30000 })
  seen.playing = await done.locator('video').evaluate((v) => ({
    controls: v.controls, muted: v.muted, width: v.getBoundingClientRect().width,
    cardWidth: v.closest('.apikley-task').getBoundingClientRect().width
  }))
  await shot('tasks_2_playing.png')
  await done.locator('video').evaluate((v) => v.pause())

  // 3. Copy the task id, then the folder's path (a browser cannot open a folder: the tooltip says so).
  const copyId = done.getByRole('button', { name: 'Copy id' })
  seen.copyIdTitle = await copyId.getAttribute('title')
  await copyId.click()
  await done.getByRole('button', { name: 'Copied ✓' }).waitFor({ timeout: 5000 })
  seen.copiedId = await inPage(() => navigator.clipboard.readText())
  seen.copyMessage = await message.textContent()
  await done.getByRole('button', { name: 'Copy id' }).waitFor({ timeout: 5000 }) // the label comes back
  const copyFolder = done.getByRole('button', { name: 'Copy folder path' })
  seen.folderTitle = await copyFolder.getAttribute('title')
  await copyFolder.click()
  await messageMatching(/^Copied folder path/)
  seen.copiedFolder = await inPage(() => navigator.clipboard.readText())

  // 4. Load the result into a Load Video node, then run that node (into Save Video).
  await done.getByRole('button', { name: 'Load in Load Video' }).click()
  await page.waitForFunction(() => window.comfyAPI.app.app.graph._nodes.some((n) => n.comfyClass === 'LoadVideo'),
    null, { timeout: 30000 })
  await messageMatching(/^Added a Load Video node/)
  seen.loadMessage = await message.textContent()
  seen.loadVideo = await inPage(() => {
    const node = window.comfyAPI.app.app.graph._nodes.find((n) => n.comfyClass === 'LoadVideo')
    const widget = node.widgets.find((w) => w.name === 'file')
    return { value: widget.value, listed: widget.options.values.includes(widget.value), id: node.id }
  })
  await page.waitForTimeout(1500) // the node's own preview loads
  await shot('tasks_3_load_video_node.png')
  await inPage((loadId) => {
    const app = window.comfyAPI.app.app
    const load = app.graph.getNodeById(loadId)
    const save = window.LiteGraph.createNode('SaveVideo')
    save.pos = [load.pos[0] + 420, load.pos[1]]
    app.graph.add(save)
    load.connect(0, save, save.inputs.findIndex((i) => i.name === 'video'))
    return app.queuePrompt(0, 1)
  }, seen.loadVideo.id)
  await page.waitForFunction(() => window.__apikleyRuns.length > 0, null, { timeout: 120000 })
  seen.loadVideoRun = await inPage(() => window.__apikleyRuns[0])

  // 5. Collect again: a finished task whose file is gone is downloaded again (no new task).
  const resultPath = await done.locator('.apikley-file').getAttribute('title')
  seen.resultPath = resultPath
  fs.unlinkSync(resultPath)
  await panel.getByRole('button', { name: 'Refresh' }).click()
  await panel.getByRole('button', { name: 'Download again' }).click()
  await messageMatching(/^Saved /)
  seen.collected = await message.textContent()
  seen.fileRestored = fs.existsSync(resultPath)

  // 6. The filter, and what failed and uncertain tasks say.
  await filterTo('failed')
  seen.failedShown = await shownGroups()
  seen.failedExplain = await card('failed').locator('.apikley-explain').innerText()
  seen.failedButtons = await card('failed').locator('.apikley-actions button').allInnerTexts()
  await shot('tasks_4_filter_failed.png')
  await filterTo('uncertain')
  seen.uncertainShown = await shownGroups()
  seen.uncertainExplain = await card('uncertain').locator('.apikley-explain').innerText()
  seen.uncertainButtons = await card('uncertain').locator('.apikley-actions button').allInnerTexts()
  await shot('tasks_5_filter_uncertain.png')
  await filterTo('finished')
  seen.finishedShown = await shownGroups()

  // 7a. "I know the task id…" on a lost create: dismissed, nothing; a mistyped id, refused; the found id,
  // linked, then collected like any task.
  await filterTo('all')
  const found = panel.locator(`.apikley-task[data-entry="${LINK_ENTRY}"]`)
  const answerPrompt = (text) => page.once('dialog', (dialog) => {
    seen.linkPrompt = dialog.message()
    void (text === null ? dialog.dismiss() : dialog.accept(text))
  })
  answerPrompt(null)
  await found.getByRole('button', { name: 'I know the task id…' }).click()
  await page.waitForTimeout(500)
  seen.linkDismissedState = await found.getAttribute('data-group')
  answerPrompt('  no-such-task-9 ')
  await found.getByRole('button', { name: 'I know the task id…' }).click()
  await messageMatching(/does not know task no-such-task-9/)
  seen.linkRefused = await message.textContent()
  answerPrompt(`${LINK_TASK}\n`)
  await found.getByRole('button', { name: 'I know the task id…' }).click()
  await messageMatching(/is now task/)
  seen.linked = await message.textContent()
  const linked = panel.locator(`.apikley-task[data-entry="${LINK_ENTRY}"]`)
  seen.linkedButtons = await linked.locator('.apikley-actions button').allInnerTexts()
  await linked.getByRole('button', { name: 'Collect' }).click()
  await messageMatching(/^Saved /)
  seen.linkedCollected = await message.textContent()
  // the message comes first, then the list is read again: wait for the row to move (or the time to run out)
  const linkedRow = `.apikley-task[data-entry="${LINK_ENTRY}"]`
  await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.group === 'finished', linkedRow, { timeout: 15000 })
    .catch(() => {})
  seen.linkedGroup = await panel.locator(linkedRow).getAttribute('data-group')

  // 7. Abandon asks first: dismissed, nothing changes; accepted, the entry is abandoned.
  await filterTo('uncertain')
  page.once('dialog', (dialog) => {
    seen.confirmText = dialog.message()
    void dialog.dismiss()
  })
  await card('uncertain').getByRole('button', { name: 'Abandon…' }).click()
  await page.waitForTimeout(1000)
  seen.uncertainAfterDismiss = (await shownGroups()).length
  page.once('dialog', (dialog) => void dialog.accept())
  await card('uncertain').getByRole('button', { name: 'Abandon…' }).click()
  await messageMatching(/abandoned/)
  seen.abandonMessage = await message.textContent()
  seen.uncertainAfterAbandon = await panel.locator('.apikley-tasks').innerText()
  await filterTo('all')
  seen.abandonedCards = await panel.locator('.apikley-task[data-state="abandoned"]').count()
  seen.abandonedExplain = await panel.locator('.apikley-task[data-state="abandoned"] .apikley-explain').innerText()

  // 8. A result file dropped on the panel turns back into its task.
  const b64 = fs.readFileSync(DROP_FILE).toString('base64')
  await panel.evaluate((element, { b64, name }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))
    const data = new DataTransfer()
    data.items.add(new File([bytes], name, { type: 'video/mp4' }))
    for (const type of ['dragover', 'drop']) {
      element.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }))
    }
  }, { b64, name: path.basename(DROP_FILE) })
  await page.waitForFunction(() => {
    const m = document.querySelector('.apikley-panel .apikley-result')
    return m?.dataset.state === 'error' || / is task /.test(m?.textContent ?? '')
  }, null, { timeout: 60000 })
  seen.dropMessage = await message.textContent()
  seen.foundEntry = await panel.locator('.apikley-task.apikley-found').getAttribute('data-entry').catch(() => null)
  await shot('tasks_6_dropped_file.png')

  // 9. The same panel as a dialog, from Settings.
  await inPage(() => window.comfyAPI.app.app.extensionManager.command.execute('Comfy.ShowSettingsDialog'))
  await page.getByText('apikley Wan 2.6', { exact: true }).first().click()
  await page.getByRole('button', { name: 'Recent tasks…' }).click()
  await page.locator('.apikley-dialog .apikley-task[data-group="finished"] video').first().waitFor({ timeout: 30000 })
  await page.waitForFunction(() => {
    const v = document.querySelector('.apikley-dialog .apikley-task[data-group="finished"] video')
    return v && v.readyState >= 2
  }, null, { timeout: 30000 })
  seen.dialogCards = await page.locator('.apikley-dialog .apikley-task').count()
  await shot('tasks_7_dialog.png')
  await page.locator('.apikley-dialog').getByRole('button', { name: 'Close' }).click()
}, { permissions: ['clipboard-read', 'clipboard-write'] })
