// What a generating node shows besides its widgets: the cost badge above its title (recomputed
// at every draw from the current widget values, so it follows every change) and, after a run,
// a one-line summary in place of the live status line.
//
// Uses the frontend's node badges and its status-line widget when present (1.27.10 has both);
// otherwise the same texts are painted under the node.

const STATUS_WIDGET = '$$node-text-preview' // the widget the frontend fills from progress_text
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
    const lines = [this.apikleyCost?.(), this.apikleySummary].filter(Boolean)
    if (!lines.length) return
    ctx.save()
    ctx.font = '12px sans-serif'
    ctx.fillStyle = '#FABC25'
    lines.forEach((line, i) => ctx.fillText(line, 4, this.size[1] + 16 + i * 15))
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

/** Replace the node's status line with `text` (until the next run's first status line). */
export function keepSummary(node, text) {
  const widget = node.widgets?.find((w) => w.name === STATUS_WIDGET)
  if (widget) widget.value = text
  else {
    node.apikleySummary = text
    paintUnder(node)
  }
  node.setDirtyCanvas?.(true, true)
}
