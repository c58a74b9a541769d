// The price table in force for this page: the server's table, with the user's override from
// Settings on top. One place, read by the cost badges, the run's total and the settings entries,
// which are told when it changes.
import { app } from '../../scripts/app.js'
import { costLabel, formatCredits, formatUsd } from './lib/format.js'
import { effectiveTable, estimate, formatTable, fromServer, priceRows } from './lib/prices.js'
import { getJson } from './pack_api.js'

let server = null
let override = ''
let table = null
const listeners = new Set()

function recompute() {
  table = effectiveTable(server, override)
  app.graph?.setDirtyCanvas?.(true, true)
  for (const listener of listeners) listener()
}

export async function loadServerPrices() {
  server = fromServer(await getJson('prices'))
  recompute()
}

export function setOverride(text) {
  override = text ?? ''
  recompute()
}

/** Call `listener` whenever the table in force changes; returns the unsubscribe function. */
export function onPricesChanged(listener) {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export const pricesInForce = () => table

/** "simulator" when the pack's API is not the real one (no real credits), "apikley", or null before loading. */
export const apiKind = () => server?.api ?? null

/** The badge text for a node's current duration and resolution widgets. */
export function costFor(duration, resolution) {
  return costLabel(estimate(table, duration, resolution), apiKind())
}

/** The table in force, in words: {lines, errors} (one line each; errors name each bad override entry). */
export function describePrices() {
  if (!table) return { lines: [server ? 'No prices.' : 'Prices not loaded yet.'], errors: [] }
  const source = table.overridden ? 'the pack\'s table with your override' : 'the pack\'s table'
  const lines = [
    `Estimated cost per run (duration/resolution), from ${source}:`,
    ...priceRows(table).map((row) => `  ${row.key}: ${formatCredits(row.credits)} credits (${formatUsd(row.usd)})`),
    table.note,
    apiKind() === 'simulator' ? 'Simulator — no real credits are spent (the API at APIKLEY_BASE_URL says it is the pack\'s simulator).' : null,
    `The pack's table as an override: ${formatTable(server)}`
  ].filter(Boolean)
  const errors = table.errors.map((error) => `Override entry left out: ${error}.`)
  return { lines, errors }
}
