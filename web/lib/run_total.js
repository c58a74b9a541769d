// The run's total before Run, in words. The pack's estimate route (POST /apikley_wan/estimate) works it
// out — every generating node of the API prompt the page would queue (graphToPrompt().output: bypassed
// and muted nodes already left out, subgraphs flattened), priced by the table in force, runs per node (a
// folder of clips), runs that re-use a recorded result, times the batch count — and asks the budget guard
// itself whether it would refuse it. Here: that answer as text, and whether to ask before queueing. Pure.

import { formatCredits, formatUsd } from './format.js'

export const GENERATING = new Set(['ApikleyWan26V2V', 'ApikleyWan26V2VSubmit'])
const SIMULATOR = 'simulator — no real credits'
const DEFAULT_THRESHOLD_USD = 2

/** Whether the prompt has a node that may pay (else the route is not asked). */
export const hasGenerating = (output) => Object.values(output ?? {}).some((node) => GENERATING.has(node?.class_type))

/**
 * The route's answer as {parts, credits, usd, atLeast, batchCount, api, refusal}; `parts` empty when the
 * graph has no generating node (or no answer); `refusal` is the guard's own sentence, or null.
 */
export function fromAnswer(answer) {
  const parts = Object.entries(answer?.nodes ?? {}).map(([id, node]) => ({
    id, title: node.title, duration: node.duration, resolution: node.resolution, each: node.each,
    runs: node.runs, reusedRuns: node.reused_runs ?? 0, paidRuns: node.paid_runs, atLeast: node.at_least,
    dearest: node.dearest, fingerprinted: node.fingerprinted, credits: node.paid_credits, usd: node.paid_usd
  }))
  const total = answer?.total ?? {}
  return {
    parts, credits: total.credits ?? 0, usd: total.usd ?? 0, atLeast: total.at_least === true,
    batchCount: total.batch_count ?? 1, api: answer?.api ?? null, refusal: answer?.refusal?.msg ?? null
  }
}

function money(credits, usd) {
  return `${formatUsd(usd)} (${formatCredits(credits)} credits)`
}

/** The chip by the Run button: "Run: ~$1.40 (279.5 credits)"; "" when nothing in the graph costs. */
export function totalText(total) {
  if (!total?.parts.length) return ''
  const reused = total.parts.reduce((n, p) => n + p.reusedRuns, 0)
  const amount = total.credits > 0
    ? `${total.atLeast ? 'at least ' : '~'}${money(total.credits, total.usd)}`
    : 'no new charge'
  const batch = total.batchCount > 1
    ? `batch ×${total.batchCount}${total.parts.every((p) => p.fingerprinted) ? ': identical runs pay once' : ''}` : null
  const notes = [reused ? `${reused} re-used` : null, batch,
    total.api === 'simulator' ? SIMULATOR : null]
  return [`Run: ${amount}`, ...notes].filter(Boolean).join(' · ')
}

/** One node's line in the breakdown, e.g. "Wan 2.6 (#12), 10 s 1080p: $1.05 (209.5 credits)". */
export function partText(part) {
  const settings = part.dearest ? 'settings set at run time, counted at the dearest price'
    : `${part.duration} s ${part.resolution}`
  const head = `${part.title} (#${part.id}), ${settings}`
  if (part.paidRuns === 0) return `${head}: re-uses its recorded result, no charge`
  const runs = []
  if (part.atLeast) runs.push('a list of clips: at least one run')
  else if (part.runs > 1) runs.push(`${part.runs} clips`)
  if (part.reusedRuns) runs.push(`${part.reusedRuns} re-used`)
  if (part.paidRuns > 1) runs.push(`${part.paidRuns} × ${money(part.each.credits, part.each.usd)}`)
  return `${head}: ${money(part.credits, part.usd)}${runs.length ? ` (${runs.join(', ')})` : ''}`
}

/**
 * The "Ask before a run costing more than" setting (USD): "" = never ask, 0 = always ask, anything
 * else that is not a number >= 0 falls back to the default.
 */
export function parseThreshold(value) {
  const text = String(value ?? '').trim()
  if (!text) return null
  const usd = Number(text)
  return Number.isFinite(usd) && usd >= 0 ? usd : DEFAULT_THRESHOLD_USD
}

/** Whether queueing this total asks first (a graph without generating nodes never does). */
export function wantsConfirm(total, threshold) {
  if (!total?.parts.length || threshold == null) return false
  return threshold === 0 || total.usd > threshold
}
