// The budget guard's Settings entry in words (GET/POST /apikley_wan/budget): one row per cap, what
// has been spent against it, and whether an environment variable sets it (then it wins and the
// field is read-only). Pure (no DOM).

import { formatCredits, formatUsd } from './format.js'

export const CAPS = [
  { name: 'session_usd', label: 'Per-session cap (USD)', spent: 'session_usd', when: 'this session' },
  { name: 'day_usd', label: 'Per-day cap (USD)', spent: 'day_usd', when: 'today' },
  { name: 'min_balance', label: 'Minimum balance (credits)', spent: null }
]

const amount = (cap, value) => (cap.name === 'min_balance' ? `${formatCredits(value)} credits` : formatUsd(value))

/** Every cap as {name, label, value (field text), fromEnv, note} from the route's answer. */
export function budgetRows(answer) {
  return CAPS.map((cap) => {
    const value = answer?.caps?.[cap.name]
    const fromEnv = answer?.source?.[cap.name] === 'env'
    const notes = []
    if (fromEnv) notes.push(`Set by ${answer.env_vars?.[cap.name] ?? 'the environment'} in ComfyUI's environment: it wins over Settings.`)
    if (cap.spent) {
      const spent = answer?.spent?.[cap.spent] ?? 0
      notes.push(value == null ? `${formatUsd(spent)} spent ${cap.when}; no cap.`
        : `${formatUsd(spent)} of ${amount(cap, value)} spent ${cap.when}.`)
    } else notes.push(value == null ? 'No minimum.' : `A create must leave at least ${amount(cap, value)}.`)
    return { name: cap.name, label: cap.label, value: value == null ? '' : String(value), fromEnv, note: notes.join(' ') }
  })
}

/** A field's text as the POST body wants it: a number >= 0, null (empty: no cap), or {error}. */
export function capValue(text) {
  const trimmed = String(text ?? '').trim()
  if (!trimmed) return null
  const value = Number(trimmed)
  return Number.isFinite(value) && value >= 0 ? value : { error: `"${trimmed}" is not a number >= 0` }
}

/** The POST body from the fields' texts (caps an environment variable sets are left out), or {error}. */
export function budgetBody(texts, rows) {
  const body = {}
  for (const row of rows) {
    if (row.fromEnv) continue
    const value = capValue(texts[row.name])
    if (value?.error) return { error: `${row.label}: ${value.error}.` }
    body[row.name] = value
  }
  return { body }
}
