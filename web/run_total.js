// The run's total where the Run button is: a chip beside the queue button (1.27:
// .comfyui-queue-button; 1.58: [data-testid="queue-button"]; else a corner of the page), redrawn when
// the graph, the batch count or the prices change, or a run ends (a result the journal now holds
// makes the same inputs free). The estimate route works the total out (with the price table in force
// and the budget guard's verdict); lib/run_total.js puts it in words.
import { api } from '../../scripts/api.js'
import { app } from '../../scripts/app.js'
import { h } from './dom.js'
import { fromAnswer, hasGenerating, totalText } from './lib/run_total.js'
import { postJson } from './pack_api.js'
import { onPricesChanged } from './prices_state.js'

const ANCHORS = ['[data-testid="queue-button"]', '.comfyui-queue-button']
const TICK_MS = 700

/** The batch count as the count field by the Run button shows it (1.27 and 1.58 have the field; the
 *  queueing itself passes the real count to the confirmation). */
export function batchCount() {
  const count = Number(document.querySelector('.batch-count input')?.value)
  return Number.isFinite(count) && count >= 1 ? Math.floor(count) : 1
}

/** The total of the graph as it would be queued now, re-uses included where the pack can tell, and the
 *  budget guard's refusal if it would refuse it; throws when the estimate route does not answer. */
export async function currentTotal(count = batchCount()) {
  const { output } = await app.graphToPrompt()
  if (!hasGenerating(output)) return fromAnswer(null)
  const answer = await postJson('estimate', { prompt: output, batch_count: count })
  if (!answer.ok) throw new Error(answer.msg ?? 'the estimate route did not answer')
  return fromAnswer(answer)
}

// a graph's links from its own link store (a Map on 1.27 and 1.58), never through the slots'
// `input.link`, which 1.58 deprecates
function linksOf(graph) {
  const links = graph?.links
  return links instanceof Map ? [...links.values()] : Object.values(links ?? {})
}

// what changes the total: nodes, their modes, widget values and links (subgraphs' too)
function graphSignature() {
  const graphs = [app.graph, ...(app.graph?.subgraphs?.values?.() ?? [])]
  const parts = [batchCount()]
  for (const graph of graphs) {
    for (const node of graph?.nodes ?? graph?._nodes ?? []) {
      parts.push(node.id, node.type, node.mode,
        ...(node.widgets ?? []).map((widget) => (typeof widget.value === 'object' ? '' : widget.value)))
    }
    for (const link of linksOf(graph)) {
      if (link) parts.push(`${link.origin_id}:${link.origin_slot}>${link.target_id}:${link.target_slot}`)
    }
  }
  return parts.join('|')
}

function place(chip) {
  // the first one on screen: a frontend may keep another, hidden, copy of the button in the page
  const anchor = ANCHORS.flatMap((selector) => [...document.querySelectorAll(selector)])
    .find((element) => element.getBoundingClientRect().width > 0)
  const group = anchor?.closest('.queue-button-group') ?? anchor
  const rect = group?.getBoundingClientRect()
  chip.dataset.anchored = rect ? 'queue-button' : 'corner'
  if (!rect) return Object.assign(chip.style, { top: '', right: '12px', bottom: '12px' })
  // beside the button group, on its left (toasts come in at the top right, under it), or under it
  // when the group leaves no room on its left
  const height = chip.getBoundingClientRect().height || 20
  const beside = rect.left - 4 >= Math.min(chip.scrollWidth + 8, window.innerWidth / 2)
  Object.assign(chip.style, beside
    ? { top: `${rect.top + (rect.height - height) / 2}px`, right: `${window.innerWidth - rect.left + 6}px`,
        bottom: '', maxWidth: `${rect.left - 10}px` }
    : { top: `${rect.bottom + 4}px`, right: `${Math.max(4, window.innerWidth - rect.right)}px`, bottom: '', maxWidth: '' })
}

export function showRunTotal() {
  const chip = h('div', { className: 'apikley-run-total', role: 'status' })
  chip.hidden = true
  document.body.append(chip)
  let seen = null
  let busy = false

  async function refresh() {
    busy = true
    try {
      const total = await currentTotal()
      const text = totalText(total)
      chip.textContent = text
      chip.title = total.parts.length ? 'Estimated cost of queueing this graph now (apikley Wan 2.6)' : ''
      chip.dataset.free = String(total.credits === 0)
      chip.hidden = !text
    } catch {
      seen = null // the graph was mid-change: try again at the next tick
    } finally {
      busy = false
    }
  }

  const stale = () => { seen = null }
  onPricesChanged(stale)
  api.addEventListener('apikley.task', stale)
  api.addEventListener('execution_success', stale)
  setInterval(() => {
    place(chip)
    if (busy || !app.graph) return
    const now = graphSignature()
    if (now === seen) return
    seen = now
    void refresh()
  }, TICK_MS)
}
