// The "Budget guard" settings entry: the per-session and per-day caps (USD) and the minimum balance
// (credits), posted to the pack's route (apikley_wan/budget) rather than kept in comfy.settings.json,
// each with what has been spent against it. A cap set in ComfyUI's environment wins: its field is
// read-only and names the variable.
import { h } from './dom.js'
import { budgetBody, budgetRows } from './lib/budget.js'
import { getJson, postJson } from './pack_api.js'

export function renderBudgetEntry() {
  const rows = h('div', { className: 'apikley-budget' })
  const save = h('button', { className: 'apikley-button', textContent: 'Save caps' })
  const result = h('div', { className: 'apikley-note apikley-result', role: 'status' })
  let shown = []
  const fields = {}

  function draw(answer) {
    shown = budgetRows(answer)
    rows.replaceChildren(...shown.map((row) => {
      fields[row.name] = h('input', { type: 'text', inputMode: 'decimal', className: 'apikley-input apikley-cap',
        value: row.value, placeholder: 'no cap', disabled: row.fromEnv, name: row.name })
      return h('label', { className: 'apikley-cap-row' },
        h('span', { className: 'apikley-cap-label', textContent: row.label }), fields[row.name],
        h('span', { className: 'apikley-note', textContent: row.note }))
    }))
  }

  function say(answer, fallback) {
    result.dataset.state = answer.ok ? 'ok' : 'error'
    result.textContent = answer.ok ? fallback : (answer.msg ?? 'The budget guard did not answer.')
  }

  async function load() {
    const answer = await getJson('budget')
    if (answer.ok) draw(answer)
    else say(answer)
    save.disabled = !answer.ok
  }

  save.onclick = async () => {
    const texts = Object.fromEntries(Object.entries(fields).map(([name, field]) => [name, field.value]))
    const { body, error } = budgetBody(texts, shown)
    if (error) return say({ ok: false, msg: error })
    save.disabled = true
    const answer = await postJson('budget', body)
    save.disabled = false
    if (answer.ok) draw(answer)
    say(answer, 'Caps saved: every new paid task is checked against them; re-using a result never is.')
  }

  void load()
  return h('div', { className: 'apikley-entry' }, rows, h('div', { className: 'apikley-row' }, result, save))
}
