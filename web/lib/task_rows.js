// One journal row (GET /apikley_wan/tasks) as the tasks panel shows it: its cells, what happened
// to a failed or uncertain task in plain words, the actions it offers (linking a lost create to the task
// id the user found too), and the state filter.
// Pure (no DOM).

import { costText, formatAgo, formatCredits, shortTaskId } from './format.js'

// the filter's choices, in the order the panel offers them
export const FILTERS = ['all', 'finished', 'running', 'failed', 'uncertain']

// journal state -> [the word the panel shows, the filter it belongs to]
const STATES = {
  success: ['finished', 'finished'],
  waiting: ['queued', 'running'],
  queuing: ['queued', 'running'],
  generating: ['generating', 'running'],
  creating: ['creating', 'running'],
  uncertain: ['uncertain', 'uncertain'],
  fail: ['failed', 'failed'],
  refused: ['refused', 'failed'],
  'not found': ['not found', 'failed'],
  abandoned: ['abandoned', null]
}

/** The filter a row belongs to; a create whose writer is gone is as uncertain as a lost answer. */
export function stateGroup(row) {
  if (row.state === 'creating' && row.abandonable) return 'uncertain'
  return STATES[row.state]?.[1] ?? null
}

export function stateLabel(row) {
  if (row.state === 'creating' && row.abandonable) return 'uncertain'
  return STATES[row.state]?.[0] ?? row.state
}

export function filterRows(rows, filter) {
  return filter === 'all' ? rows : rows.filter((row) => stateGroup(row) === filter)
}

/** "2025-01-31 14:05" in the viewer's local time. */
export function exactTime(epochS) {
  const d = new Date(epochS * 1000)
  const pad = (n) => String(n).padStart(2, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`
}

export function firstLine(text) {
  return (text ?? '').trim().split('\n')[0].trim()
}

export function rowCells(row, nowS) {
  const prompt = firstLine(row.prompt)
  return {
    task: shortTaskId(row.task_id) || '(no task id)',
    prompt: prompt || '(no prompt recorded)',
    state: stateLabel(row),
    created: row.created_at ? formatAgo(row.created_at, nowS) : '',
    createdExact: row.created_at ? exactTime(row.created_at) : '',
    cost: costText(row) || (row.duration ? `${row.duration}s ${row.resolution}` : ''),
    settings: row.duration ? `${row.duration}s ${row.resolution}` : '',
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

/** How long to look for a task whose create answer was lost: twice its typical run, at least 5 min. */
export function lookForMinutes(row) {
  return Math.max(5, Math.ceil((2 * (row.typical_s || 150)) / 60))
}

/**
 * What happened and what to do, for a task that did not simply finish or run: `{title, text}`,
 * or null. Built from the row's data, never from a guess about the provider.
 */
export function explanation(row) {
  const group = stateGroup(row)
  if (row.state === 'fail') {
    return {
      title: 'The generation failed on the provider',
      text: `${row.error ? `The provider said: “${row.error}”. ` : ''}Failed tasks are normally not billed. ` +
        'Change the input clip or the prompt and run again: a new task is created.'
    }
  }
  if (row.state === 'refused') {
    return {
      title: 'The API refused to create this task',
      text: `${row.error ? `${row.error} ` : ''}No task was made, so nothing was billed; fix what it names and run again.`
    }
  }
  if (row.state === 'not found') {
    return {
      title: 'The API does not know this task id',
      text: 'Check the id (copy it from your apikley task log); nothing was billed for looking it up.'
    }
  }
  if (group === 'uncertain') {
    const sent = row.created_at ? ` at ${exactTime(row.created_at)}` : ''
    return {
      title: 'The create request\'s answer was lost',
      text: `The create request was sent${sent}; no answer came back. A task may exist and may be billed; ` +
        'it was NOT sent again. Look for it in your apikley task log: “I know the task id…” links it to this ' +
        'entry, so the same inputs re-use it (no new charge). ' +
        `If it does not appear within ${lookForMinutes(row)} minutes, Abandon lets the next run with the same ` +
        'inputs create (and pay for) a new task.'
    }
  }
  if (row.state === 'abandoned') {
    return {
      title: 'Abandoned',
      text: 'You gave up on this lost create: the next run with the same inputs creates a new task. If the lost ' +
        'one did exist, it may still be billed.'
    }
  }
  return null
}

/** The buttons a row offers, in order: only those that can work for it. */
export function actions(row) {
  const list = []
  if (row.result_exists) list.push('play')
  if (row.task_id) list.push('copy-id')
  if (row.result_folder) list.push('copy-folder')
  if (row.result_exists) list.push('load-video')
  if (collectLabel(row)) list.push('collect')
  if (row.abandonable) list.push('link', 'abandon')
  return list
}

/** What the box asking for the task id of a lost create says. */
export function linkQuestion(row) {
  return `The task id of journal entry ${row.entry_id} (from your apikley task log):\n\nThe same inputs then ` +
    're-use that task: nothing is sent or paid by linking it. Collect downloads its result.'
}

/** The pasted task id without the spaces a copy picks up; null when nothing was pasted (the route checks it). */
export function pastedTaskId(text) {
  const id = (text ?? '').trim()
  return id || null
}

/** What the confirmation before Abandon says (money first). */
export function abandonQuestion(row) {
  return `Abandon journal entry ${row.entry_id}?\n\nIf the lost create did make a task, it may still be ` +
    'billed. The next run with the same inputs will create (and pay for) a new task.'
}

/** Whether a dropped file looks like a result video (the route checks it properly). */
export function isVideoFile(name) {
  return /\.(mp4|mov|webm|mkv)$/i.test(name ?? '')
}
