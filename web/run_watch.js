// Follows the runs of the pack's nodes through the "apikley.task" event each run ends with (a
// report in data: apikley_wan/report.py). The report alone becomes the node's summary — amber
// for a new charge, green for none — and only a new charge toasts its cost and the new balance.
// No status line is ever read to tell one from the other.
import { api } from '../../scripts/api.js'
import { app } from '../../scripts/app.js'
import { balanceText } from './lib/format.js'
import { costToast, reportSummary, wantsCostToast } from './lib/summary.js'
import { clearSummary, dropStatusLine, keepSummary } from './node_labels.js'
import { getJson } from './pack_api.js'

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
  const balance = await getJson('credits?refresh=1')
  app.extensionManager?.toast?.add?.({ ...costToast(report, balanceText(balance)), life: 8000 })
}

export function watchRuns() {
  api.addEventListener('apikley.task', ({ detail }) => {
    if (detail) void onReport(detail)
  })
  // a node that runs again drops its last summary: its live status lines take over
  api.addEventListener('executing', ({ detail }) => {
    const node = nodeFor(detail)
    if (node) clearSummary(node)
  })
  // a status line the node sends after its report (its own closing sentence) would bring the
  // frontend's text box back under the summary, which already says it from data; the timeout
  // lets the frontend's own listener add the box first
  api.addEventListener('progress_text', ({ detail }) => {
    const node = nodeFor(detail?.nodeId)
    if (node?.apikleySummary) setTimeout(() => dropStatusLine(node))
  })
}
