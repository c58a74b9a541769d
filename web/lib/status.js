// Reading the nodes' status lines (the "progress_text" messages). Pure (no DOM).

const FINAL = /^(Done|Reused|Submitted): task (\S+)(.*)$/

/**
 * The last line a node sends for a task — "Done: task ID | 70 credits | /path" (it finished
 * during this run), "Reused: task ID (no new charge) | /path" (an earlier, already paid result)
 * or "Submitted: task ID (waiting)" — as {kind: 'done'|'reused'|'submitted', taskId};
 * null for a live status line.
 */
export function parseFinalLine(text) {
  const match = FINAL.exec(String(text ?? '').trim())
  if (!match) return null
  return { kind: match[1].toLowerCase(), taskId: match[2] }
}
