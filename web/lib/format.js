// How numbers, times and tasks read in the UI. Pure (no DOM).

/** 70 -> "70", 104.5 -> "104.5", 930.1234 -> "930.12". */
export function formatCredits(credits) {
  return String(Number(Number(credits).toFixed(2)))
}

/** 0.35 -> "$0.35"; a half cent rounds up (2.795 -> "$2.80", where toFixed alone says 2.79). */
export function formatUsd(usd) {
  return `$${(Math.round(Number(usd) * 100 + 1e-7) / 100).toFixed(2)}`
}

/** The node's cost badge: "est. 70 credits · $0.35" (+ " · simulator" where no real credits are spent). */
export function costLabel(est, api) {
  if (!est) return ''
  return `est. ${formatCredits(est.credits)} credits · ${formatUsd(est.usd)}${api === 'simulator' ? ' · simulator' : ''}`
}

/** 42 -> "42s", 161 -> "2m 41s", 3720 -> "1h 02m". */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

/** A past moment relative to now (both epoch seconds), timezone-free: "2 min ago". */
export function formatAgo(thenS, nowS) {
  const d = Math.max(0, nowS - thenS)
  if (d < 45) return 'just now'
  if (d < 3600) return `${Math.round(d / 60)} min ago`
  if (d < 86400) return `${Math.round(d / 3600)} h ago`
  return `${Math.round(d / 86400)} d ago`
}

export function shortTaskId(taskId) {
  return taskId && taskId.length > 12 ? `${taskId.slice(0, 12)}…` : taskId || ''
}

/** A task's cost and what kind of figure it is, from its `cost_kind`: "70 credits (reported)",
 *  "70 credits (measured)", "~70 credits (estimate)", "cost unknown"; "" when there is no cost. */
export function costText(row) {
  if (row?.cost_kind === 'unknown') return 'cost unknown'
  if (row?.cost_credits == null) return ''
  const amount = `${formatCredits(row.cost_credits)} credits`
  if (row.cost_kind === 'reported' || row.cost_kind === 'measured') return `${amount} (${row.cost_kind})`
  return `~${amount} (estimate)`
}

/** The balance answer of GET /apikley_wan/credits as one phrase. */
export function balanceText(answer) {
  if (!answer?.ok) return answer?.msg || 'Balance unknown.'
  return `${formatCredits(answer.credits)} credits (${formatUsd(answer.usd)})`
}
