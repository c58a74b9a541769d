// What a generating node shows besides its widgets: the cost badge above its title (recomputed
// at every draw from the current widget values, so it follows every change) and, after a run,
// a one-line summary in place of the live status line, coloured by whether the run paid.
//
// Both by design through what the classic canvas and Nodes 2.0 (Vue nodes) each render: the
// frontend's node badges (LGraphBadge in node.badges) and a DOM widget (addDOMWidget). Nothing is
// painted in onDrawForeground, which Nodes 2.0 never calls. Every supported frontend (1.27 and
// later) has both.
import { h } from './dom.js'

const STATUS_WIDGET = '$$node-text-preview' // the widget the frontend fills from progress_text
const SUMMARY_WIDGET = 'apikley_summary'
// the look of the frontend's own API-node price badges (PrimeIcons' coin)
const COIN = { unicode: '\ue96b', fontFamily: 'PrimeIcons', color: '#FABC25', bgColor: '#654020', fontSize: 8 }

function badgeFactory() {
  let text = null
  let badge = null
  return (label) => {
    if (label !== text) {
      text = label
      badge = new window.LGraphBadge(label ? { text: label, bgColor: '#8D6932', iconOptions: COIN } : { text: '' })
    }
    return badge
  }
}

/** Show `label()` (e.g. "est. 70 credits · $0.35") on the node for as long as it exists. */
export function addCostBadge(node, label) {
  const badge = badgeFactory()
  node.badges.push(() => badge(label()))
}

function dropWidget(node, name) {
  const widget = node.widgets?.find((w) => w.name === name)
  if (!widget) return
  if (typeof node.removeWidget === 'function') node.removeWidget(widget) // also frees its DOM and store entries
  else node.widgets.splice(node.widgets.indexOf(widget), 1)
}

function summaryWidget(node) {
  const existing = node.widgets?.find((w) => w.name === SUMMARY_WIDGET)
  if (existing) return existing
  const element = h('div', { className: 'apikley-summary', role: 'status' })
  const widget = node.addDOMWidget(SUMMARY_WIDGET, 'apikley-summary', element, {
    serialize: false, // never in the workflow nor in the prompt: the run's fingerprint must not move
    hideOnZoom: false,
    margin: 6,
    getValue: () => element.textContent,
    setValue: () => {},
    getMinHeight: () => 68 // three lines: a re-use's words and a long file name wrap on a default-width node
  })
  widget.serialize = false
  // above the video player when the node already has one (a second run on the same page)
  const player = node.widgets.findIndex((w) => w.name === 'video-preview')
  if (player !== -1 && player < node.widgets.indexOf(widget)) {
    node.widgets.splice(node.widgets.indexOf(widget), 1)
    node.widgets.splice(player, 0, widget)
  }
  const [width, height] = node.computeSize?.() ?? node.size
  node.setSize?.([Math.max(node.size[0], width), Math.max(node.size[1], height)])
  return widget
}

/** Show the run's summary ({text, tone} from lib/summary.js) in place of the live status line. */
export function keepSummary(node, summary) {
  node.apikleySummary = summary
  showText(node, summary)
}

/** Show a live status line ({text, tone: 'live'}) in the node's own status area, which wraps
 *  at word boundaries and keeps its height, unlike the frontend's text box. */
export function showLive(node, text) {
  if (node.apikleySummary) return dropStatusLine(node) // the run's summary already says how it ended
  showText(node, { text, tone: 'live' })
}

function showText(node, { text, tone }) {
  node.apikleyShown = { text, tone }
  dropStatusLine(node)
  const { element } = summaryWidget(node)
  element.textContent = text
  element.title = text
  element.dataset.tone = tone
  node.setDirtyCanvas?.(true, true)
}

/** Forget the last run's summary and status (the node runs again). */
export function clearSummary(node) {
  if (!node.apikleyShown) return
  node.apikleySummary = null
  node.apikleyShown = null
  dropWidget(node, SUMMARY_WIDGET)
  node.setDirtyCanvas?.(true, true)
}

/** Take the last run's video player off the node (the node runs again), and the room it took. */
export function clearPreview(node) {
  if (!node.widgets?.some((w) => w.name === 'video-preview')) return
  dropWidget(node, 'video-preview')
  node.imgs = undefined
  node.videoContainer = undefined // the frontend adds the player again only when this is unset
  const height = node.computeSize?.()[1]
  if (height) node.setSize?.([node.size[0], height])
}

/** The frontend's status-line box: the summary replaces it (1.5x frontends drop it at the job's end anyway). */
export function dropStatusLine(node) {
  dropWidget(node, STATUS_WIDGET)
}
