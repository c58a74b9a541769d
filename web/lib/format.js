// How numbers, times and tasks read in the UI. Pure (no DOM).

/** 70 -> "70", 104.5 -> "104.5", 930.1234 -> "930.12". */
export function formatCredits(credits) {
  return String(Number(Number(credits).toFixed(2)))
}

export function formatUsd(usd) {
  return `$${Number(usd).toFixed(2)}`
}

/** The node's cost badge: "est. 70 credits · $0.35"; "" when nothing can be estimated. */
export function costLabel(est) {
  if (!est) return ''
  return `est. ${formatCredits(est.credits)} credits · ${formatUsd(est.usd)}`
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

/** "70 credits (reported)" when the API reported the cost, else "~70 credits (estimate)". */
export function costText(row) {
  if (row?.cost_credits == null) return ''
  const amount = `${formatCredits(row.cost_credits)} credits`
  return row.cost_reported ? `${amount} (reported)` : `~${amount} (estimate)`
}

/** The balance answer of GET /apikley_wan/credits as one phrase. */
export function balanceText(answer) {
  if (!answer?.ok) return answer?.msg || 'Balance unknown.'
  return `${formatCredits(answer.credits)} credits (${formatUsd(answer.usd)})`
}
