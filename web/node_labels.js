// What a generating node shows besides its widgets: the cost badge above its title (recomputed
// at every draw from the current widget values, so it follows every change) and, after a run,
// a one-line summary in place of the live status line, coloured by whether the run paid.
//
// Uses the frontend's node badges and DOM widgets when present (1.27 and 1.58 have both);
// otherwise the same texts are painted under the node.
import { h } from './dom.js'

const STATUS_WIDGET = '$$node-text-preview' // the widget the frontend fills from progress_text
const SUMMARY_WIDGET = 'apikley_summary'
// the summary's colours where it is painted, as apikley_wan.css gives them to the DOM widget
const TONES = { paid: '#FABC25', free: '#4caf50', info: '#bbbbbb', live: '#dddddd' }
// the look of the frontend's own API-node price badges (PrimeIcons' coin)
const COIN = { unicode: '\ue96b', fontFamily: 'PrimeIcons', color: '#FABC25', bgColor: '#654020', fontSize: 8 }

function badgeFactory() {
  const Badge = window.LGraphBadge
  if (typeof Badge !== 'function') return null
  let text = null
  let badge = null
  return (label) => {
    if (label !== text) {
      text = label
      badge = new Badge(label ? { text: label, bgColor: '#8D6932', iconOptions: COIN } : { text: '' })
    }
    return badge
  }
}

function paintUnder(node) {
  if (node.apikleyPainted) return
  node.apikleyPainted = true
  const previous = node.onDrawForeground
  node.onDrawForeground = function (ctx, ...rest) {
    previous?.call(this, ctx, ...rest)
    const summary = this.apikleyShown
    const lines = [[this.apikleyCost?.(), COIN.color], [summary?.text, TONES[summary?.tone]]].filter(([t]) => t)
    if (!lines.length) return
    ctx.save()
    ctx.font = '12px sans-serif'
    lines.forEach(([line, color], i) => {
      ctx.fillStyle = color ?? TONES.info
      ctx.fillText(line, 4, this.size[1] + 16 + i * 15)
    })
    ctx.restore()
  }
}

/** Show `label()` (e.g. "est. 70 credits · $0.35") on the node for as long as it exists. */
export function addCostBadge(node, label) {
  const badge = badgeFactory()
  if (badge && Array.isArray(node.badges)) {
    node.badges.push(() => badge(label()))
    return
  }
  node.apikleyCost = label
  paintUnder(node)
}

function dropWidget(node, name) {
  const widget = node.widgets?.find((w) => w.name === name)
  if (!widget) return
  if (typeof node.removeWidget === 'function') node.removeWidget(widget) // also frees its DOM and store entries
  else node.widgets.splice(node.widgets.indexOf(widget), 1)
}

function summaryWidget(node) {
  const existing = node.widgets?.find((w) => w.name === SUMMARY_WIDGET)
  if (existing || typeof node.addDOMWidget !== 'function') return existing ?? null
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
  const widget = summaryWidget(node)
  if (widget?.element) {
    widget.element.textContent = text
    widget.element.title = text
    widget.element.dataset.tone = tone
  } else paintUnder(node)
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
