// The price table: the server's (GET /apikley_wan/prices), a user override from Settings
// over it, and one run's estimate. Pure (no DOM), so node --test covers it.

const ENTRY = /^(\d+)\s*s?\s*\/\s*(\d+p)$/i
const RATE_KEYS = new Set(['usd', 'usd_per_credit'])

/** The server's JSON as a table; null when it is not one. `api` is "simulator" when no real credits are spent. */
export function fromServer(json) {
  if (!json || typeof json.credits !== 'object' || !(json.usd_per_credit > 0)) return null
  return { credits: { ...json.credits }, usdPerCredit: json.usd_per_credit, note: json.note || '', api: json.api ?? null }
}

function positive(text) {
  const value = Number(text)
  return Number.isFinite(value) && value > 0 ? value : null
}

// one "key=value" entry: {key, value} to apply, or {error} saying what was expected
function parseEntry(part) {
  const [rawKey, rawValue, extra] = part.split('=')
  const key = (rawKey ?? '').trim().toLowerCase()
  if (rawValue === undefined || extra !== undefined) {
    return { error: `"${part}": expected one key=value, e.g. 10/1080p=200` }
  }
  const match = ENTRY.exec(key)
  if (!RATE_KEYS.has(key) && !match) {
    return { error: `"${part}": expected duration/resolution (e.g. 10/1080p) or usd_per_credit before "="` }
  }
  const value = positive(rawValue.trim())
  if (value === null) return { error: `"${part}": expected a positive number after "=" (e.g. 200)` }
  return { key: match ? `${match[1]}/${match[2]}` : 'usd_per_credit', value }
}

/**
 * Parse an override such as "10/1080p=200, usd_per_credit=0.005" (separators: , ; newline), entry by
 * entry: every valid entry applies, every bad one is listed in `errors` with what was expected.
 * Returns {credits, usdPerCredit?, errors}. Empty text overrides nothing.
 */
export function parseOverride(text) {
  const credits = {}
  const errors = []
  let usdPerCredit
  for (const raw of String(text ?? '').split(/[,;\n]/)) {
    const part = raw.trim()
    if (!part) continue
    const entry = parseEntry(part)
    if (entry.error) errors.push(entry.error)
    else if (entry.key === 'usd_per_credit') usdPerCredit = entry.value
    else credits[entry.key] = entry.value
  }
  return { credits, usdPerCredit, errors }
}

/**
 * The table in force: the server's with the override's valid entries on top.
 * `overridden` says whether the user's entries changed anything; `errors` lists the entries that
 * were left out, each with what was expected.
 */
export function effectiveTable(server, overrideText) {
  const parsed = parseOverride(overrideText)
  const credits = { ...(server?.credits ?? {}), ...parsed.credits }
  const usdPerCredit = parsed.usdPerCredit ?? server?.usdPerCredit
  if (!usdPerCredit || !Object.keys(credits).length) return null
  const overridden = Object.keys(parsed.credits).length > 0 || parsed.usdPerCredit !== undefined
  return { credits, usdPerCredit, overridden, note: server?.note ?? '', api: server?.api ?? null, errors: parsed.errors }
}

function priced(table, credits) {
  return { credits, usd: Math.round(credits * table.usdPerCredit * 1e4) / 1e4 } // as pricing.credits_to_usd
}

/** One run's estimated cost {credits, usd}; null when the table has no such combination. */
export function estimate(table, duration, resolution) {
  const credits = table?.credits?.[`${duration}/${resolution}`]
  return typeof credits === 'number' ? priced(table, credits) : null
}

/** The dearest run in the table: what a node whose settings are not known before the run is counted at. */
export function dearest(table) {
  const most = Math.max(...Object.values(table?.credits ?? {}))
  return Number.isFinite(most) ? priced(table, most) : null
}

/** Every entry as {key: "5/720p", credits, usd}, to list the table. */
export function priceRows(table) {
  return Object.entries(table?.credits ?? {}).map(([key, credits]) => ({ key, ...priced(table, credits) }))
}

/** The table in the override syntax (what parseOverride reads back), to show the defaults. */
export function formatTable(table) {
  if (!table) return ''
  const rows = Object.entries(table.credits).map(([key, credits]) => `${key}=${credits}`)
  return [...rows, `usd_per_credit=${table.usdPerCredit}`].join(', ')
}
