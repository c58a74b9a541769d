// The price table: the server's (GET /apikley_wan/prices), a user override from Settings
// over it, and one run's estimate. Pure (no DOM), so node --test covers it.

const ENTRY = /^(\d+)\s*s?\s*\/\s*(\d+p)$/i
const RATE_KEYS = new Set(['usd', 'usd_per_credit'])

/** The server's JSON as a table; null when it is not one. */
export function fromServer(json) {
  if (!json || typeof json.credits !== 'object' || !(json.usd_per_credit > 0)) return null
  return { credits: { ...json.credits }, usdPerCredit: json.usd_per_credit, note: json.note || '' }
}

function positive(text) {
  const value = Number(text)
  return Number.isFinite(value) && value > 0 ? value : null
}

/**
 * Parse an override such as "10/1080p=200, usd_per_credit=0.005" (separators: , ; newline).
 * Returns {ok: true, credits, usdPerCredit?} or {ok: false, error}. Empty text overrides nothing.
 */
export function parseOverride(text) {
  const credits = {}
  let usdPerCredit
  for (const part of String(text ?? '').split(/[,;\n]/)) {
    if (!part.trim()) continue
    const [rawKey, rawValue, extra] = part.split('=')
    const key = (rawKey ?? '').trim().toLowerCase()
    const value = positive((rawValue ?? '').trim())
    if (extra !== undefined || value === null) {
      return { ok: false, error: `"${part.trim()}": expected key=positive number` }
    }
    const match = ENTRY.exec(key)
    if (RATE_KEYS.has(key)) usdPerCredit = value
    else if (match) credits[`${match[1]}/${match[2]}`] = value
    else return { ok: false, error: `"${key}": expected duration/resolution (e.g. 10/1080p) or usd_per_credit` }
  }
  return { ok: true, credits, usdPerCredit }
}

/**
 * The table in force: the server's with the override's entries on top.
 * `overridden` says whether the user's entries changed anything; `error` reports a bad override
 * (which is then ignored as a whole rather than half-applied).
 */
export function effectiveTable(server, overrideText) {
  const parsed = parseOverride(overrideText)
  const extra = parsed.ok ? parsed : { credits: {} }
  const credits = { ...(server?.credits ?? {}), ...extra.credits }
  const usdPerCredit = extra.usdPerCredit ?? server?.usdPerCredit
  if (!usdPerCredit || !Object.keys(credits).length) return null
  const overridden = Object.keys(extra.credits).length > 0 || extra.usdPerCredit !== undefined
  return { credits, usdPerCredit, overridden, note: server?.note ?? '', error: parsed.ok ? null : parsed.error }
}

function priced(table, credits) {
  return { credits, usd: Math.round(credits * table.usdPerCredit * 1e4) / 1e4 } // as pricing.credits_to_usd
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

/** The table in the override syntax (what parseOverride reads back), to show the defaults. */
export function formatTable(table) {
  if (!table) return ''
  const rows = Object.entries(table.credits).map(([key, credits]) => `${key}=${credits}`)
  return [...rows, `usd_per_credit=${table.usdPerCredit}`].join(', ')
}
