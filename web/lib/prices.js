// The price table in force, as the server keeps it (GET/POST /apikley_wan/prices: the pack's table with
// the override saved in Settings on top; the budget guard counts in the same table), and one run's
// estimate from it. Pure (no DOM), so node --test covers it.

export const OVERRIDE_SETTING = 'ApikleyWan.PriceOverride'

/**
 * The server's JSON as a table; null when it is not one. `api` is "simulator" when no real credits are
 * spent; `override` the saved override as text; `defaults` the pack's own table.
 */
export function fromServer(json) {
  if (!json || typeof json.credits !== 'object' || !(json.usd_per_credit > 0)) return null
  const defaults = json.default ? fromServer(json.default) : null
  return {
    credits: { ...json.credits }, usdPerCredit: json.usd_per_credit, note: json.note || '', api: json.api ?? null,
    overridden: json.overridden === true, override: json.override ?? '', defaults
  }
}

function priced(table, credits) {
  return { credits, usd: Math.round(credits * table.usdPerCredit * 1e4) / 1e4 } // as PriceTable.to_usd
}

/** One run's estimated cost {credits, usd}; null when the table has no such combination. */
export function estimate(table, duration, resolution) {
  const credits = table?.credits?.[`${duration}/${resolution}`]
  return typeof credits === 'number' ? priced(table, credits) : null
}

/** Every entry as {key: "5/720p", credits, usd}, to list the table. */
export function priceRows(table) {
  return Object.entries(table?.credits ?? {}).map(([key, credits]) => ({ key, ...priced(table, credits) }))
}

/** The table in the override syntax (what the server reads back), to show the defaults. */
export function formatTable(table) {
  if (!table) return ''
  const rows = Object.entries(table.credits).map(([key, credits]) => `${key}=${credits}`)
  return [...rows, `usd_per_credit=${table.usdPerCredit}`].join(', ')
}

/**
 * The override this browser kept in its settings before the server kept it (one-time migration):
 * 'send' it when the server has none, 'drop' it when the server already has one (the server's wins),
 * null when there is nothing to move.
 */
export function migration(browserText, table) {
  if (!String(browserText ?? '').trim() || !table) return null
  return table.overridden ? 'drop' : 'send'
}
