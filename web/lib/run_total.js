// The run's total before Run: every generating node of the API prompt the page would queue
// (graphToPrompt().output: bypassed and muted nodes are already left out, subgraphs flattened), priced
// by the table in force, with what the pack's estimate route (POST /apikley_wan/estimate) knows —
// runs per node (a folder of clips) and runs that re-use a recorded result — times the batch count.
// Whether to ask before queueing, and what the budget guard would say. Pure (no DOM).

import { formatCredits, formatUsd } from './format.js'
import { dearest, estimate } from './prices.js'

export const GENERATING = new Set(['ApikleyWan26V2V', 'ApikleyWan26V2VSubmit'])
const SIMULATOR = 'simulator — no real credits'
const DEFAULT_THRESHOLD_USD = 2

const wired = (value) => Array.isArray(value) // an input linked to another node: [source id, output]
const usdOf = (table, credits) => Math.round(credits * (table?.usdPerCredit ?? 0) * 1e4) / 1e4

/**
 * One generating node's part. `server` is its entry of the estimate route's answer (null when the
 * route did not answer): {runs: n|null, reused_runs: n|null}. A node whose runs the pack fingerprinted
 * has identical inputs in every batch copy, so it is paid once (the copies re-use it); any other node
 * is counted once per batch copy, as paid.
 */
function nodePart(table, id, node, server, batchCount) {
  const { duration, resolution } = node.inputs ?? {}
  const known = wired(duration) || wired(resolution) ? null : estimate(table, duration, resolution)
  const each = known ?? dearest(table) ?? { credits: 0, usd: 0 }
  const runs = server ? server.runs : 1
  const fingerprinted = server?.reused_runs != null
  const reusedRuns = fingerprinted ? Math.min(server.reused_runs, runs ?? server.reused_runs) : 0
  const perCopy = Math.max(0, (runs ?? 1) - reusedRuns)
  const paidRuns = fingerprinted ? perCopy : perCopy * batchCount
  return {
    id, title: node._meta?.title || node.class_type, duration, resolution, each,
    runs, reusedRuns, paidRuns, atLeast: runs == null, dearest: !known, fingerprinted,
    credits: each.credits * paidRuns, usd: usdOf(table, each.credits * paidRuns)
  }
}

/** {parts, credits, usd, atLeast, batchCount, api}; `parts` empty when the graph has no generating node. */
export function runTotal({ output, table, nodes = null, batchCount = 1, api = null }) {
  const batch = Math.max(1, Math.floor(Number(batchCount) || 1))
  const parts = Object.entries(output ?? {})
    .filter(([, node]) => GENERATING.has(node?.class_type))
    .map(([id, node]) => nodePart(table, id, node, nodes?.[id] ?? null, batch))
  const credits = parts.reduce((sum, part) => sum + part.credits, 0)
  return { parts, credits, usd: usdOf(table, credits), atLeast: parts.some((p) => p.atLeast), batchCount: batch, api }
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

/**
 * What the budget guard would obviously refuse, as sentences naming each cap. `budget` is GET
 * /apikley_wan/budget ({caps, spent, source, env_vars}); `balance` GET /apikley_wan/credits (or null).
 */
export function budgetRefusals(total, budget, balance) {
  if (!total || total.credits <= 0 || !budget?.caps) return []
  const { caps, spent = {} } = budget
  const where = (name) => (budget.source?.[name] === 'env' ? budget.env_vars?.[name] : null) ?? 'Settings'
  const out = []
  for (const [name, label, used] of [['session_usd', 'per-session cap', spent.session_usd],
    ['day_usd', 'per-day cap', spent.day_usd]]) {
    const cap = caps[name]
    if (cap == null || (used ?? 0) + total.usd <= cap + 1e-9) continue
    out.push(`The ${label} of ${formatUsd(cap)} (${where(name)}) would refuse it: ${formatUsd(used ?? 0)} spent ` +
      `${name === 'day_usd' ? 'today' : 'this session'} + this run's ${formatUsd(total.usd)}.`)
  }
  if (caps.min_balance != null && balance?.ok && balance.credits - total.credits < caps.min_balance - 1e-9) {
    out.push(`The minimum balance of ${formatCredits(caps.min_balance)} credits (${where('min_balance')}) would ` +
      `refuse it: the balance is ${formatCredits(balance.credits)} credits and this run needs ` +
      `${formatCredits(total.credits)}.`)
  }
  return out
}
