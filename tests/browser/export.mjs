// A workflow shared from the real frontend, printed as one JSON line for tests/test_browser_export.py
// (which owns ComfyUI, the scan and the assertions). PHASE "export" (key saved): Load Video -> Wan 2.6
// V2V -> Save Video runs and pays (the node then shows its summary and video), the paid task's id is
// typed into a Task From Id node, and the graph is exported (the frontend's Export command: a download,
// saved to EXPORT_FILE) and saved (its Save command: into the user's workflows folder). PHASE "missing"
// (the pack is not installed): EXPORT_FILE is opened and the missing-node dialog's text is read.
import fs from 'node:fs'

import { withComfyPage } from './comfy_page.mjs'

const { CLIP_NAME, EXPORT_FILE, PHASE } = process.env

await withComfyPage(async ({ page, seen, shot, inPage }) => {
  if (PHASE === 'missing') {
    await inPage((workflow) => { void window.comfyAPI.app.app.loadGraphData(JSON.parse(workflow)) }, fs.readFileSync(EXPORT_FILE, 'utf8'))
    // 1.58 says so in a toast whose "View details" opens the list; older frontends open a dialog at once
    const details = page.getByRole('button', { name: 'View details' })
    const dialog = page.locator('.p-dialog').filter({ hasText: /missing/i }).first()
    await Promise.race([details.first().waitFor({ timeout: 30000 }), dialog.waitFor({ timeout: 30000 })])
    if (await details.count()) await details.first().click()
    await page.waitForTimeout(2000) // the pack list settles
    // the page's words (the canvas draws node titles, so what names the pack is the dialog or panel)
    seen.missingDialog = await page.locator('body').innerText()
    seen.frontend = await inPage(() => window.__COMFYUI_FRONTEND_VERSION__ ?? null)
    await shot('export_2_missing_pack_dialog.png')
    return
  }
  await inPage(() => {
    window.__reports = []
    window.comfyAPI.api.api.addEventListener('apikley.task', (e) => window.__reports.push(e.detail))
  })
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
    const fromId = add('ApikleyTaskFromId', [40, 560])
    load.widgets.find((w) => w.name === 'file').value = clip
    wan.widgets.find((w) => w.name === 'prompt').value = 'character1 dances in the rain'
    load.connect(0, wan, wan.inputs.findIndex((i) => i.name === 'video'))
    wan.connect(0, save, save.inputs.findIndex((i) => i.name === 'video'))
    app.canvas.ds.offset = [20, 40]
    app.canvas.ds.scale = 0.8
    app.graph.setDirtyCanvas(true, true)
    return { wan: wan.id, fromId: fromId.id }
  }, { clip: CLIP_NAME })
  await inPage(() => window.comfyAPI.app.app.queuePrompt(0, 1))
  await page.waitForFunction(() => window.__reports.some((r) => r.state === 'success'), null, { timeout: 180000 })
  await page.waitForFunction((id) => !!window.__view.videoBox(id), ids.wan, { timeout: 30000 }).catch(() => {})
  seen.taskId = await inPage(() => window.__reports.find((r) => r.state === 'success').task_id)
  // the user types the task id into Task From Id (to collect it elsewhere): the one place it belongs
  await inPage(({ id, taskId }) => {
    const widget = window.comfyAPI.app.app.graph.getNodeById(id).widgets.find((w) => w.name === 'task_id')
    widget.value = taskId
    widget.callback?.(taskId)
  }, { id: ids.fromId, taskId: seen.taskId })
  seen.ids = ids
  await shot('export_1_graph_after_a_paid_run.png')

  // Export (a download) and Save (the user's workflows folder). The commands are not awaited: one
  // that asks for a file name waits for the answer, which is typed into its prompt.
  await inPage(() => window.comfyAPI.app.app.extensionManager.setting.set('Comfy.PromptFilename', false))
  const command = (id) => inPage((id) => { void window.comfyAPI.app.app.extensionManager.command.execute(id) }, id)
  const answerPrompt = async (name) => {
    const field = page.getByRole('dialog').locator('input').first()
    if (await field.waitFor({ timeout: 5000 }).then(() => true, () => false)) {
      await field.fill(name)
      await page.getByRole('dialog').getByRole('button', { name: 'Confirm' }).click()
    }
  }
  const downloaded = page.waitForEvent('download', { timeout: 30000 })
  await command('Comfy.ExportWorkflow')
  await answerPrompt('shared')
  const download = await downloaded
  await download.saveAs(EXPORT_FILE)
  seen.exportName = download.suggestedFilename()
  await command('Comfy.SaveWorkflow')
  await answerPrompt('shared')
  await page.waitForFunction(() => window.comfyAPI.app.app.extensionManager.workflow.activeWorkflow?.path
    ?.endsWith('shared.json'), null, { timeout: 30000 })
  seen.savedPath = await inPage(() => window.comfyAPI.app.app.extensionManager.workflow.activeWorkflow?.path ?? null)
})
