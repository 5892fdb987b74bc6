-- Run by test/editors/nvim-check.sh inside `nvim --headless blanks.py`, with docs/editors.md's
-- Neovim config as init.lua and lsp/diffill.lua. Uses only what a user of that config has: the
-- documented commands, and the attached client for the inline completion request. Quits with
-- status 0 when every check passed.
local TIMEOUT = 120000

local passed, failed = 0, 0
local function say(msg)
  io.stdout:write(msg .. '\n')
end

-- The documented commands report problems through vim.notify: record them so that a check fails
-- with the reason instead of waiting out its timeout.
local errors = {}
vim.notify = function(msg, level)
  say('  notify: ' .. tostring(msg))
  if level == vim.log.levels.ERROR or level == vim.log.levels.WARN then table.insert(errors, tostring(msg)) end
end

local function check(name, fn)
  errors = {}
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
    say('ok: ' .. name)
  else
    failed = failed + 1
    say('FAILED: ' .. name .. ': ' .. tostring(err))
  end
end

--- Waits (running Neovim's event loop) until `cond` is true; fails on a reported error or the timeout.
local function wait_for(what, cond, timeout)
  local ok = vim.wait(timeout or TIMEOUT, function()
    return cond() or #errors > 0
  end, 50)
  if #errors > 0 then error(what .. ': ' .. table.concat(errors, '; '), 0) end
  if not ok then error('timed out waiting for ' .. what, 0) end
end

local function text(bufnr)
  return table.concat(vim.api.nvim_buf_get_lines(bufnr, 0, -1, false), '\n') .. '\n'
end

local function attached_client(bufnr)
  local client
  wait_for('the diffill client to attach', function()
    client = vim.lsp.get_clients({ bufnr = bufnr, name = 'diffill' })[1]
    return client ~= nil and client.initialized == true
  end, 30000)
  return client
end

local blanks_buf = vim.api.nvim_get_current_buf()
local client

check('the client from the documented config attaches to `diffill lsp --stdio`', function()
  assert(vim.bo[blanks_buf].filetype == 'python', 'filetype is ' .. vim.bo[blanks_buf].filetype)
  client = attached_client(blanks_buf)
  assert(vim.deep_equal(client.config.cmd, { 'diffill', 'lsp', '--stdio' }), 'unexpected cmd ' .. vim.inspect(client.config.cmd))
  say('  server: ' .. vim.inspect(client.server_info))
end)

check(':DiffillFillBlanks fills every ___', function()
  local original = text(blanks_buf)
  vim.cmd('DiffillFillBlanks')
  wait_for('the fills', function()
    return not text(blanks_buf):find('___', 1, true)
  end)
  local filled = text(blanks_buf)
  say('  ' .. filled:gsub('\n', '\n  '))
  assert(filled:find('^def area%(') and filled:find('print(area(3,', 1, true), 'the text around the blanks changed')
  -- Blanks replaced by nothing at all would pass the checks above.
  assert(filled ~= original:gsub('_+', ''), 'the model filled every blank with nothing')
end)

check(":'<,'>DiffillFillBlanks replaces the visual selection", function()
  vim.api.nvim_buf_set_lines(blanks_buf, -1, -1, false, { '', 'total = price * XXXXXXXX' })
  local row = vim.api.nvim_buf_line_count(blanks_buf)
  -- The selection as Visual mode leaves it: the marks of its first and last character.
  vim.api.nvim_buf_set_mark(blanks_buf, '<', row, 16, {})
  vim.api.nvim_buf_set_mark(blanks_buf, '>', row, 23, {})
  vim.cmd("'<,'>DiffillFillBlanks")
  local line
  wait_for('the selection to be replaced', function()
    line = vim.api.nvim_buf_get_lines(blanks_buf, row - 1, row, false)[1]
    return not line:find('XXXXXXXX', 1, true)
  end)
  say('  ' .. line)
  assert(line:find('total = price * ', 1, true) == 1, 'text outside the selection changed: ' .. line)
end)

check(':DiffillGuidance 1.5 reaches the server', function()
  vim.cmd('DiffillGuidance 1.5')
  -- The documented handler reports the strength the server answered; the status notification that
  -- follows carries it too.
  wait_for('the guidance the server answered', function()
    return (vim.g.diffill_guidance or '') == 1.5
  end, 30000)
  wait_for('a status notification with guidance 1.5', function()
    return (vim.g.diffill_status or ''):find('guidance 1.5', 1, true) ~= nil
  end, 30000)
  say('  vim.g.diffill_status = ' .. vim.g.diffill_status)
  vim.cmd('DiffillGuidance 0')
  wait_for('guidance back to 0', function()
    return vim.g.diffill_guidance == 0
  end, 30000)
end)

check(':DiffillWriteBefore writes above the cursor line', function()
  vim.cmd('edit before.py')
  local buf = vim.api.nvim_get_current_buf()
  attached_client(buf)
  local original = text(buf)
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  vim.cmd('DiffillWriteBefore')
  wait_for('the written lines', function()
    return text(buf) ~= original
  end)
  local written = text(buf)
  say('  ' .. written:gsub('\n', '\n  '))
  assert(#written > #original and written:sub(-#original) == original, 'the original lines did not stay below what was written')
end)

check('the server answers textDocument/inlineCompletion from Neovim', function()
  local buf = vim.api.nvim_get_current_buf()
  vim.api.nvim_buf_set_lines(buf, -1, -1, false, { '', '', 'def add(a, b):', '    return a' })
  local last = vim.api.nvim_buf_line_count(buf)
  vim.api.nvim_win_set_cursor(0, { last, #'    return a' })
  local params = vim.lsp.util.make_position_params(0, client.offset_encoding)
  params.context = { triggerKind = 1 } -- invoked: the user asked
  local response, err = client:request_sync('textDocument/inlineCompletion', params, TIMEOUT, buf)
  assert(response ~= nil, 'no response: ' .. tostring(err))
  assert(response.err == nil, 'error: ' .. vim.inspect(response.err))
  local items = response.result and (response.result.items or response.result) or {}
  assert(#items > 0 and items[1].insertText ~= '', 'no completion item: ' .. vim.inspect(response.result))
  say('  first item: ' .. vim.inspect(items[1].insertText))
end)

if vim.lsp.inline_completion then
  check('ghost text (Neovim 0.12+): the documented setup enables vim.lsp.inline_completion', function()
    assert(vim.lsp.inline_completion.is_enabled({ bufnr = 0 }), 'inline completion is not enabled')
  end)
else
  say('skipped: ghost text needs Neovim 0.12+ (vim.lsp.inline_completion); this is ' .. tostring(vim.version()))
end

say(string.format('%d passed, %d failed', passed, failed))
vim.cmd(failed == 0 and 'qall!' or 'cquit 1')
