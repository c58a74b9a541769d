// The price table in force for this page: the server's (the pack's table with the override saved in
// Settings on top, which the budget guard counts in too). One place, read by the cost badges and the
// settings entries, which are told when it changes; the run's total comes from the estimate route.
import { app } from '../../scripts/app.js'
import { costLabel, formatCredits, formatUsd } from './lib/format.js'
import { estimate, formatTable, fromServer, migration, OVERRIDE_SETTING, priceRows } from './lib/prices.js'
import { getJson, postJson } from './pack_api.js'

let table = null
let refused = null // {text, msg}: an override this browser kept that the server refused when it was moved there
const listeners = new Set()

function changed() {
  app.graph?.setDirtyCanvas?.(true, true)
  for (const listener of listeners) listener()
}

export async function loadServerPrices() {
  table = fromServer(await getJson('prices'))
  changed()
}

/** Save the override on the server ("" clears it); the answer ({ok, msg}) says what was saved or why not. */
export async function saveOverride(text) {
  const answer = await postJson('prices', { override: text ?? '' })
  if (answer.ok) {
    table = fromServer(answer) ?? table
    if (refused) void browserSetting().set(OVERRIDE_SETTING, '') // the user has decided: the browser's copy goes
    refused = null
    changed()
  }
  return answer
}

function browserSetting() {
  const settings = app.extensionManager?.setting
  const get = (id) => (settings?.get ? settings.get(id) : app.ui?.settings?.getSettingValue?.(id))
  const set = (id, value) => (settings?.set ? settings.set(id, value) : app.ui?.settings?.setSettingValue?.(id, value))
  return { get, set }
}

/**
 * Once: an override this browser kept in its settings (before the server kept it) is sent to the
 * server when the server has none, then removed from the browser. One the server refuses stays in the
 * browser and is offered in the override entry for correction (``browserOverrideRefused``).
 */
export async function migrateBrowserOverride() {
  const { get, set } = browserSetting()
  const text = String(get(OVERRIDE_SETTING) ?? '').trim()
  const step = migration(text, table)
  if (!step) return
  if (step === 'send') {
    const answer = await saveOverride(text)
    if (!answer.ok) {
      refused = { text, msg: answer.msg }
      return
    }
  } else console.info('apikley_wan: the price override kept in this browser was dropped: the server already has one')
  await set(OVERRIDE_SETTING, '')
}

export const browserOverrideRefused = () => refused

/** Call `listener` whenever the table in force changes; returns the unsubscribe function. */
export function onPricesChanged(listener) {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export const pricesInForce = () => table

/** "simulator" when the API said it is the simulator (no real credits), "apikley", or null before loading. */
export const apiKind = () => table?.api ?? null

/** The badge text for a node's current duration and resolution widgets. */
export function costFor(duration, resolution) {
  return costLabel(estimate(table, duration, resolution), apiKind())
}

/** The table in force, in words, one line each. */
export function describePrices() {
  if (!table) return ['Prices not loaded yet.']
  const source = table.overridden ? 'the pack\'s table with your override' : 'the pack\'s table'
  return [
    `Estimated cost per run (duration/resolution), from ${source}:`,
    ...priceRows(table).map((row) => `  ${row.key}: ${formatCredits(row.credits)} credits (${formatUsd(row.usd)})`),
    table.note,
    apiKind() === 'simulator' ? 'Simulator — no real credits are spent (the API at APIKLEY_BASE_URL says it is the pack\'s simulator).' : null,
    `The pack's table as an override: ${formatTable(table.defaults ?? table)}`
  ].filter(Boolean)
}
