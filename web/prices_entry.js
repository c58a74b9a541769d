// The "Prices in force" settings entry: the table the badges and the run's total use, redrawn as the
// override is typed; each override entry that was left out is listed in red with what was expected.
import { h } from './dom.js'
import { describePrices, onPricesChanged } from './prices_state.js'

export function renderPricesEntry() {
  const lines = h('div', { className: 'apikley-note' })
  const errors = h('div', { className: 'apikley-note apikley-result', role: 'alert' })
  errors.dataset.state = 'error'
  const entry = h('div', { className: 'apikley-entry apikley-prices' }, errors, lines)
  const draw = () => {
    const { lines: text, errors: bad } = describePrices()
    lines.textContent = text.join('\n')
    errors.textContent = bad.join('\n')
    errors.hidden = !bad.length
  }
  const stop = onPricesChanged(() => (entry.isConnected ? draw() : stop()))
  draw()
  return entry
}
