// Follows the runs of the pack's nodes through the "apikley.task" event each run ends with (a
// report in data: apikley_wan/report.py). The report alone becomes the node's summary — amber
// for a new charge, green for none — and only a new charge toasts its cost and the new balance.
// No status line is ever read to tell one from the other.
import { api } from '../../scripts/api.js'
import { app } from '../../scripts/app.js'
import { balanceText } from './lib/format.js'
import { isPackNode } from './lib/pack_id.js'
import { cancelSummary, cancelToast, costToast, reportSummary, wantsCostToast } from './lib/summary.js'
import { clearPreview, clearSummary, keepSummary, showLive } from './node_labels.js'
import { getBalance } from './pack_api.js'

function nodeFor(id) {
  if (id == null) return null
  const key = String(id)
  if (!key.includes(':')) return app.graph?.getNodeById?.(key) ?? null
  // a node inside a subgraph comes as "outer:inner"; it is on screen only while that subgraph is open
  const open = app.canvas?.graph
  return open && open !== app.graph ? open.getNodeById?.(key.split(':').pop()) ?? null : null
}

async function onReport(report) {
  const node = nodeFor(report.display_node ?? report.node)
  if (node) keepSummary(node, reportSummary(report, Date.now() / 1000))
  if (!wantsCostToast(report)) return
  const balance = await getBalance({ refresh: true })
  app.extensionManager?.toast?.add?.({ ...costToast(report, balanceText(balance)), life: 8000 })
}

// the frontend keeps each node's last output and would put the old player back from it
function forgetOutput(key) {
  const outputs = app.nodeOutputs
  if (!outputs || !(key in outputs)) return
  const { [key]: _old, ...rest } = outputs
  app.nodeOutputs = rest
}

function onCancelled(event) {
  const node = nodeFor(event.display_node ?? event.node)
  if (node) keepSummary(node, cancelSummary(event))
  app.extensionManager?.toast?.add?.({ ...cancelToast(event), life: 12000 })
}

export function watchRuns() {
  api.addEventListener('apikley.task', ({ detail }) => {
    if (detail) void onReport(detail)
  })
  api.addEventListener('apikley.cancelled', ({ detail }) => {
    if (detail) onCancelled(detail)
  })
  // a node that runs again drops its last summary and video: what shows is this run's
  api.addEventListener('executing', ({ detail }) => {
    const node = nodeFor(detail)
    if (!isPackNode(node)) return
    clearSummary(node)
    clearPreview(node)
    forgetOutput(String(detail))
  })
  // live status lines go to the node's own status area (the timeout lets the frontend's own
  // listener add its text box first, which showLive then removes)
  api.addEventListener('progress_text', ({ detail }) => {
    const node = nodeFor(detail?.nodeId)
    if (isPackNode(node)) setTimeout(() => showLive(node, String(detail.text ?? '')))
  })
}
