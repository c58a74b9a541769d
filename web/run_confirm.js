// Asks before a run that would spend more than the "Ask before a run costing more than" setting, or
// that the budget guard would refuse (the estimate route asks the guard itself): app.queuePrompt — what the Run button, its keyboard
// shortcut and Queue Front call on 1.27 and 1.58 — is wrapped, and Cancel queues nothing.
import { app } from '../../scripts/app.js'
import { h } from './dom.js'
import { parseThreshold, partText, totalText, wantsConfirm } from './lib/run_total.js'
import { currentTotal } from './run_total.js'

export const THRESHOLD_SETTING = 'ApikleyWan.AskAbove'

function threshold() {
  const settings = app.extensionManager?.setting
  const value = settings?.get ? settings.get(THRESHOLD_SETTING) : app.ui?.settings?.getSettingValue?.(THRESHOLD_SETTING)
  return parseThreshold(value)
}

/** A modal with the total and its parts; resolves true for Run, false for Cancel (or Escape). */
function ask(total, refusals) {
  return new Promise((resolve) => {
    const cancel = h('button', { className: 'apikley-button', textContent: 'Cancel' })
    const run = h('button', { className: 'apikley-button apikley-run', textContent: refusals.length ? 'Run anyway' : 'Run' })
    const dialog = h('dialog', { className: 'apikley-dialog apikley-confirm' },
      h('h3', { textContent: total.credits > 0 ? 'This run will spend credits' : 'This run re-uses recorded results' }),
      h('div', { className: 'apikley-confirm-total', textContent: totalText(total) }),
      h('ul', { className: 'apikley-confirm-parts' }, ...total.parts.map((part) => h('li', { textContent: partText(part) }))),
      refusals.length
        ? h('div', { className: 'apikley-explain apikley-refusal', role: 'alert', textContent: refusals.join('\n') +
          '\nThe run would be refused before anything is uploaded; re-using a result is never refused.' })
        : null,
      h('div', { className: 'apikley-row apikley-confirm-buttons' }, cancel, run))
    const close = (answer) => {
      dialog.close()
      dialog.remove()
      resolve(answer)
    }
    cancel.onclick = () => close(false)
    run.onclick = () => close(true)
    dialog.addEventListener('cancel', (event) => {
      event.preventDefault()
      close(false)
    })
    document.body.append(dialog)
    dialog.showModal()
    cancel.focus()
  })
}

async function mayQueue(batchCount) {
  const total = await currentTotal(Math.max(1, Number(batchCount) || 1))
  if (!total.parts.length) return true
  const refusals = total.refusal ? [total.refusal] : []
  if (!wantsConfirm(total, threshold()) && !refusals.length) return true
  return ask(total, refusals)
}

export function confirmCostlyRuns() {
  const queuePrompt = app.queuePrompt
  app.queuePrompt = async function (number, batchCount, ...rest) {
    let go = true
    try {
      go = await mayQueue(batchCount)
    } catch (err) {
      console.warn('apikley_wan: the run\'s total could not be worked out; queueing without asking', err)
    }
    return go ? queuePrompt.call(this, number, batchCount, ...rest) : false
  }
}
