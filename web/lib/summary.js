// A run's report — the "apikley.task" event: apikley_wan/report.py's RunReport plus the node and
// the previewed file — as the node's summary and, for a new charge only, a toast. Pure (no DOM).
// Paid or free is read from the report's fields, never from a sentence.

import { formatCredits, formatDuration, formatUsd, shortTaskId } from './format.js'

const PENDING = new Set(['waiting', 'queuing', 'generating'])

/** A run that created its task, i.e. was charged for it. */
export function isCharge(report) {
  return report?.outcome === 'paid' || report?.charged === true
}

/** "70 credits ($0.35, estimate)"; "70 credits ($0.35)" when the API reported it; "70 credits ($0.35,
 *  measured)" when it is the balance's difference; "cost unknown". */
export function reportCost(report) {
  if (report?.cost_credits == null) return 'cost unknown'
  const notes = []
  if (report.cost_usd != null) notes.push(formatUsd(report.cost_usd))
  if (report.cost_kind !== 'reported') notes.push(report.cost_kind === 'measured' ? 'measured' : 'estimate')
  return `${formatCredits(report.cost_credits)} credits${notes.length ? ` (${notes.join(', ')})` : ''}`
}

/** A past moment relative to now (epoch seconds) in words: "just now", "5 min ago", "2 h ago", "3 days ago". */
export function ageWords(thenS, nowS) {
  const d = Math.max(0, nowS - thenS)
  if (d < 45) return 'just now'
  if (d < 3600) return `${Math.max(1, Math.floor(d / 60))} min ago`
  if (d < 86400) return `${Math.floor(d / 3600)} h ago`
  const days = Math.floor(d / 86400)
  return `${days} ${days === 1 ? 'day' : 'days'} ago`
}

/** The saved file's name: the previewed one, else the last part of the result path. */
export function resultName(report) {
  if (report?.result?.filename) return report.result.filename
  return String(report?.result_path ?? '').split(/[\\/]/).pop()
}

// what this run did with money; `task` names the task where nothing before it does
function moneyPhrase(report, nowS, task) {
  const id = shortTaskId(report.task_id)
  if (isCharge(report)) return `Paid now: ${reportCost(report)}`
  if (report.outcome === 'reused') {
    const when = report.finished_at != null ? ageWords(report.finished_at, nowS) : 'earlier'
    return `Re-used: no charge (paid ${when}${task ? `, task ${id}` : ''})`
  }
  if (report.outcome === 'reattached') return `Re-attached to a running task: no new charge${task ? ` (task ${id})` : ''}`
  if (report.outcome === 'collected') return task ? `Collected task ${id}: no new charge` : 'Collected: no new charge'
  return null // an outcome this version does not know: claim nothing
}

// a run that did not end with a result says so first
function statePhrase(report) {
  const id = shortTaskId(report.task_id) || '(no task id)'
  const state = String(report.state ?? 'unknown')
  if (state === 'success') return null
  if (PENDING.has(state)) return `${isCharge(report) ? 'Submitted' : 'Still running'}: task ${id} (${state})`
  if (state === 'fail') return `Failed: task ${id}`
  return `${state.charAt(0).toUpperCase()}${state.slice(1)}: task ${id}`
}

/**
 * The node's summary after a run: {text, tone}; tone 'paid' (this run created a task), 'free'
 * (re-used, re-attached or collected: no new charge) or 'info' (an outcome not known here).
 * E.g. "Paid now: 70 credits ($0.35, estimate) · 2m 41s · wan26_v2v_17e4….mp4".
 */
export function reportSummary(report, nowS) {
  const state = statePhrase(report)
  const money = moneyPhrase(report, nowS, !state)
  const parts = [state, money ?? (state ? null : `Task ${shortTaskId(report.task_id)}: ${report.state}`)]
  parts.push(...(Array.isArray(report.notes) ? report.notes : [])) // the core's words, e.g. an HDR reference made SDR
  if (report.api === 'simulator') parts.push('simulator — no real credits')
  if (Number.isFinite(report.elapsed_s)) parts.push(formatDuration(report.elapsed_s))
  parts.push(resultName(report))
  const tone = isCharge(report) ? 'paid' : money ? 'free' : 'info'
  return { text: parts.filter(Boolean).join(' · '), tone }
}

/** Only a task created and finished in this run toasts what it cost; `balance` is balanceText(...). */
export function wantsCostToast(report) {
  return isCharge(report) && report.state === 'success'
}

export function costToast(report, balance) {
  const simulator = report.api === 'simulator' ? ' · simulator — no real credits' : ''
  return {
    severity: 'success',
    summary: `apikley task ${shortTaskId(report.task_id)} finished`,
    detail: `Paid now: ${reportCost(report)}${simulator} · balance ${balance}`
  }
}

/** The node's note after Cancel, from the `apikley.cancelled` event's data: {text, tone}. */
export function cancelSummary(event) {
  if (!event?.task_exists) {
    return {
      text: 'Cancelled before a task id was recorded. If the create request was already on its way, ' +
        're-queuing the same graph collects that task at no new charge.',
      tone: 'info'
    }
  }
  return {
    text: `Cancelled: task ${shortTaskId(event.task_id)} exists and will likely finish and be billed. ` +
      'Re-queue the same graph to collect it at no new charge.',
    tone: 'paid'
  }
}

/** The toast a Cancel shows (a warning: the money may already be spent). */
export function cancelToast(event) {
  return { severity: 'warn', summary: 'apikley run cancelled', detail: cancelSummary(event).text }
}
