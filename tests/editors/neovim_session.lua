-- A real editing session in headless Neovim (0.7+), through its built-in LSP client, against
-- `resnet-dsl lsp`. Driven by tests/test_neovim.py: it opens $SPEC, waits for the diagnostics,
-- hovers at $HOVER_LINE/$HOVER_CHAR, goes to the definition at $DEF_LINE/$DEF_CHAR, formats,
-- stops the server, and writes what it saw to $RESULT as JSON.
local out = { diagnostics = {} }
local function finish()
  local file = io.open(os.getenv("RESULT"), "w")
  file:write(vim.fn.json_encode(out))
  file:close()
  vim.cmd("qa!")
end

local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(os.getenv("SPEC")))
  local buf = vim.api.nvim_get_current_buf()
  local client_id = vim.lsp.start_client({
    name = "resnet_dsl",
    cmd = { "sh", "-c", "exec \"$LSP_PYTHON\" -m resnet_dsl lsp 2>\"$LSP_STDERR\"" },
    root_dir = vim.fn.fnamemodify(os.getenv("SPEC"), ":h"),
    on_exit = function(code) out.exit = code end,
  })
  vim.lsp.buf_attach_client(buf, client_id)

  vim.wait(60000, function() return #vim.diagnostic.get(buf) >= 2 end, 20)
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(out.diagnostics, { line = d.lnum, col = d.col, message = d.message })
  end

  local uri = vim.uri_from_bufnr(buf)
  local function at(line, char)
    return { textDocument = { uri = uri }, position = { line = tonumber(line), character = tonumber(char) } }
  end
  local hover = vim.lsp.buf_request_sync(buf, "textDocument/hover",
    at(os.getenv("HOVER_LINE"), os.getenv("HOVER_CHAR")), 30000)
  local answer = hover and hover[client_id] and hover[client_id].result
  out.hover = answer and answer.contents.value or vim.NIL

  local found = vim.lsp.buf_request_sync(buf, "textDocument/definition",
    at(os.getenv("DEF_LINE"), os.getenv("DEF_CHAR")), 30000)
  local location = found and found[client_id] and found[client_id].result
  if location and location[1] then location = location[1] end
  if location and location.uri then
    vim.lsp.util.jump_to_location(location, "utf-16")  -- as `gd` does
    out.definition = {
      file = vim.api.nvim_buf_get_name(0),
      line = vim.api.nvim_win_get_cursor(0)[1] - 1,
      text = vim.api.nvim_get_current_line(),
    }
  end

  vim.api.nvim_set_current_buf(buf)
  vim.lsp.buf.formatting_sync(nil, 30000)
  out.formatted = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") .. "\n"

  vim.lsp.stop_client(client_id)  -- shutdown, then exit
  vim.wait(30000, function() return out.exit ~= nil end, 20)
end)
if not ok then out.error = tostring(err) end
finish()
