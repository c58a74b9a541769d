// Follows the nodes' status lines: when a node reports its task's final line, the journal row
// of that task becomes the node's one-line summary, and — only for a task that finished during
// this run, never for a re-used result — a toast says what it cost and the new balance.
import { api } from '../../scripts/api.js'
import { app } from '../../scripts/app.js'
import { balanceText, costText, shortTaskId, taskSummary } from './lib/format.js'
import { parseFinalLine } from './lib/status.js'
import { keepSummary } from './node_labels.js'
import { getJson } from './pack_api.js'

async function onFinalLine(nodeId, final) {
  const answer = await getJson(`tasks?task_id=${encodeURIComponent(final.taskId)}`)
  const row = answer.tasks?.[0]
  const node = app.graph?.getNodeById?.(nodeId)
  if (!row) return
  if (node) keepSummary(node, taskSummary(row))
  if (final.kind !== 'done') return
  const balance = await getJson('credits?refresh=1')
  app.extensionManager?.toast?.add?.({
    severity: 'success',
    summary: `apikley task ${shortTaskId(row.task_id)} finished`,
    detail: `${costText(row)} · balance ${balanceText(balance)}`,
    life: 8000
  })
}

export function watchRuns() {
  api.addEventListener('progress_text', ({ detail }) => {
    const final = parseFinalLine(detail?.text)
    if (final && detail.nodeId) void onFinalLine(detail.nodeId, final)
  })
}
