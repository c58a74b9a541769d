// One journal row (GET /apikley_wan/tasks) as the recent-tasks panel shows it. Pure (no DOM).

import { costText, formatAgo, shortTaskId } from './format.js'

export function rowCells(row, nowS) {
  return {
    task: shortTaskId(row.task_id) || '(no task id)',
    state: row.state,
    created: row.created_at ? formatAgo(row.created_at, nowS) : '',
    cost: costText(row) || (row.duration ? `${row.duration}s ${row.resolution}` : ''),
    file: row.result_file ? (row.result_exists ? row.result_file : `${row.result_file} (missing)`) : '',
    collect: collectLabel(row)
  }
}

/** The collect button: pending tasks are collected, finished ones re-downloaded if their file is gone. */
export function collectLabel(row) {
  if (!row.collectable) return null
  if (row.state !== 'success') return 'Collect'
  return row.result_exists ? null : 'Download again'
}
