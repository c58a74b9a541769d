// The price settings entries: the override (saved on the server, like the budget caps, so the budget
// guard, the status line, the journal and this page count in one table) and the table in force.
import { h } from './dom.js'
import { browserOverrideRefused, describePrices, onPricesChanged, pricesInForce, saveOverride } from './prices_state.js'

export function renderOverrideEntry() {
  const pending = browserOverrideRefused()
  const field = h('input', { type: 'text', className: 'apikley-input apikley-price-override',
    value: pending?.text ?? pricesInForce()?.override ?? '', placeholder: 'e.g. 10/1080p=200, usd_per_credit=0.005' })
  const save = h('button', { className: 'apikley-button', textContent: 'Save override' })
  const result = h('div', { className: 'apikley-note apikley-result', role: 'status' })
  const say = (ok, text) => {
    result.dataset.state = ok ? 'ok' : 'error'
    result.textContent = text
  }
  if (pending) say(false, `The override this browser kept was not saved on the server: ${pending.msg}`)
  save.onclick = async () => {
    save.disabled = true
    const answer = await saveOverride(field.value)
    save.disabled = false
    if (answer.ok) field.value = answer.override ?? ''
    say(answer.ok, answer.ok ? answer.msg : (answer.msg ?? 'The pack did not answer.'))
  }
  return h('div', { className: 'apikley-entry' }, h('div', { className: 'apikley-row' }, field, save), result)
}

export function renderPricesEntry() {
  const lines = h('div', { className: 'apikley-note' })
  const entry = h('div', { className: 'apikley-entry apikley-prices' }, lines)
  const draw = () => { lines.textContent = describePrices().join('\n') }
  const stop = onPricesChanged(() => (entry.isConnected ? draw() : stop()))
  draw()
  return entry
}
