// Drives the tasks panel's Collect of a task still running at the provider, then its Stop waiting, and
// prints what it saw as one JSON line. Started by tests/test_browser_tasks.py, which made the task
// (STOP_ENTRY: its journal entry) and owns the assertions.
import { withComfyPage } from './comfy_page.mjs'

const { STOP_ENTRY } = process.env

await withComfyPage(async ({ page, seen, shot, inPage }) => {
  await inPage(() => window.comfyAPI.app.app.extensionManager.command
    .execute('Workspace.ToggleSidebarTab.apikley-tasks'))
  const panel = page.locator('.apikley-panel')
  const running = panel.locator(`.apikley-task[data-entry="${STOP_ENTRY}"]`)
  const buttons = () => running.locator('.apikley-actions button').allInnerTexts()
  await running.waitFor({ timeout: 30000 })
  seen.before = await buttons()
  await running.getByRole('button', { name: 'Collect' }).click()
  await running.getByRole('button', { name: 'Stop waiting' }).waitFor({ timeout: 15000 })
  seen.waiting = await buttons()
  seen.waitingBusy = await running.getByRole('button', { name: 'Waiting for the task…' }).isDisabled()
  seen.stopTitle = await running.getByRole('button', { name: 'Stop waiting' }).getAttribute('title')
  await shot('tasks_8_collect_waiting.png')
  const asked = Date.now()
  seen.messageBefore = await panel.locator('.apikley-result').textContent()
  await running.getByRole('button', { name: 'Stop waiting' }).click({ timeout: 5000 }).catch(async (err) => {
    seen.buttonsAtClick = await buttons()
    seen.messageAtClick = await panel.locator('.apikley-result').textContent()
    throw new Error(`${err.message}; seen: ${JSON.stringify(seen)}`)
  })
  await page.waitForFunction(() => /^Stopped waiting/
    .test(document.querySelector('.apikley-panel .apikley-result')?.textContent ?? ''), null, { timeout: 15000 })
  seen.stoppedAfterMs = Date.now() - asked
  seen.stopped = await panel.locator('.apikley-result').textContent()
  seen.stoppedState = await panel.locator('.apikley-result').getAttribute('data-state')
  // the message comes first, then the list is read again and the card offers Collect again
  await running.getByRole('button', { name: 'Collect' }).waitFor({ timeout: 15000 })
  seen.after = await buttons()
  seen.group = await running.getAttribute('data-group')
  await shot('tasks_9_collect_stopped.png')
})
