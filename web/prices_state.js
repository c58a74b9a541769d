// The price table in force for this page: the server's table, with the user's override from
// Settings on top. One place, read by the cost badges and the settings entry.
import { app } from '../../scripts/app.js'
import { costLabel, formatCredits, formatUsd } from './lib/format.js'
import { effectiveTable, estimate, formatTable, fromServer, priceRows } from './lib/prices.js'
import { getJson } from './pack_api.js'

let server = null
let override = ''
let table = null

function recompute() {
  table = effectiveTable(server, override)
  app.graph?.setDirtyCanvas?.(true, true)
}

export async function loadServerPrices() {
  server = fromServer(await getJson('prices'))
  recompute()
}

export function setOverride(text) {
  override = text ?? ''
  recompute()
}

/** The badge text for a node's current duration and resolution widgets. */
export function costFor(duration, resolution) {
  return costLabel(estimate(table, duration, resolution))
}

/** The table in force, in words (one line each), for the settings entry. */
export function describePrices() {
  if (!table) return server ? 'No prices.' : 'Prices not loaded yet.'
  const source = table.overridden ? 'the pack\'s table with your override' : 'the pack\'s table'
  return [
    `Estimated cost per run (duration/resolution), from ${source}:`,
    ...priceRows(table).map((row) => `  ${row.key}: ${formatCredits(row.credits)} credits (${formatUsd(row.usd)})`),
    table.note,
    table.error ? `Override ignored: ${table.error}.` : null,
    `The pack's table as an override: ${formatTable(server)}`
  ].filter(Boolean).join('\n')
}
