/*
** lerror.c -- Cancelled, Timeout and ErrorGroup values.
**
** The values are plain tables with metatables, so fields read naturally
** (e.reason, e.errors). The mechanism that builds them on hot paths is C;
** the ergonomics (split, flatten, the rendered tree) are Lua, embedded
** below so the module needs nothing but its .so.
*/
#include <string.h>
#include "lcorral.h"

static const char errors_lua[] =
"local M = {}\n"
"local Cancelled = {__name = 'corral.Cancelled'}\n"
"Cancelled.__index = Cancelled\n"
"function Cancelled.__tostring(e)\n"
"  local s = 'Cancelled'\n"
"  if e.reason ~= nil then s = s .. ': ' .. tostring(e.reason) end\n"
"  local why = {}\n"
"  if e.source then why[#why + 1] = 'source=' .. e.source end\n"
"  if e.origin then why[#why + 1] = 'origin=' .. e.origin end\n"
"  if #why > 0 then s = s .. ' (' .. table.concat(why, ', ') .. ')' end\n"
"  return s\n"
"end\n"
"M.Cancelled = Cancelled\n"
"local Timeout = {__name = 'corral.Timeout'}\n"
"Timeout.__index = Timeout\n"
"function Timeout.__tostring(e)\n"
"  return string.format('Timeout: deadline passed after %gs', e.seconds)\n"
"end\n"
"function M.timeout(seconds)\n"
"  return setmetatable({seconds = seconds}, Timeout)\n"
"end\n"
"M.Timeout = Timeout\n"
"local EG = {__name = 'corral.ErrorGroup'}\n"
"EG.__index = EG\n"
"local function is_eg(e) return getmetatable(e) == EG end\n"
"function M.error_group(list, dropped)\n"
"  return setmetatable({errors = list.errors, tasks = list.tasks,\n"
"    tracebacks = list.tracebacks, dropped = dropped or 0}, EG)\n"
"end\n"
"function EG.__len(e) return #e.errors end\n"
"local function sub(e, keep)\n"
"  local r = {errors = {}, tasks = {}, tracebacks = {}}\n"
"  for i = 1, #e.errors do\n"
"    if keep[i] then\n"
"      local n = #r.errors + 1\n"
"      r.errors[n], r.tasks[n], r.tracebacks[n] =\n"
"        keep[i] == true and e.errors[i] or keep[i], e.tasks[i], e.tracebacks[i]\n"
"    end\n"
"  end\n"
"  if #r.errors == 0 then return nil end\n"
"  return setmetatable({errors = r.errors, tasks = r.tasks,\n"
"    tracebacks = r.tracebacks, dropped = 0}, EG)\n"
"end\n"
"function EG:split(pred)\n"
"  if type(pred) ~= 'function' then\n"
"    error(\"bad argument #1 to 'split' (function expected, got \" .. type(pred) .. ')', 2)\n"
"  end\n"
"  local yes, no = {}, {}\n"
"  for i, err in ipairs(self.errors) do\n"
"    if is_eg(err) then\n"
"      local a, b = err:split(pred)\n"
"      yes[i], no[i] = a or nil, b or nil\n"
"    elseif pred(err) then yes[i] = true else no[i] = true end\n"
"  end\n"
"  return sub(self, yes), sub(self, no)\n"
"end\n"
"function EG:flatten(out)\n"
"  out = out or {}\n"
"  for _, err in ipairs(self.errors) do\n"
"    if is_eg(err) then err:flatten(out) else out[#out + 1] = err end\n"
"  end\n"
"  return out\n"
"end\n"
"local function render(e, lines, indent, tracebacks)\n"
"  local head = string.format('ErrorGroup: %d failure%s', #e.errors,\n"
"    #e.errors == 1 and '' or 's')\n"
"  if e.dropped and e.dropped > 0 then\n"
"    head = head .. string.format(' (+%d dropped)', e.dropped)\n"
"  end\n"
"  if indent == '' then lines[#lines + 1] = head end\n"
"  for i, err in ipairs(e.errors) do\n"
"    local last = i == #e.errors\n"
"    local branch, cont = last and '`- ' or '|- ', last and '   ' or '|  '\n"
"    local name = tostring(e.tasks[i] or '?')\n"
"    if is_eg(err) then\n"
"      local h = string.format('ErrorGroup: %d failure%s', #err.errors,\n"
"        #err.errors == 1 and '' or 's')\n"
"      lines[#lines + 1] = indent .. branch .. '[' .. name .. '] ' .. h\n"
"      render(err, lines, indent .. cont, tracebacks)\n"
"    else\n"
"      local msg = tostring(err):gsub('\\n', '\\n' .. indent .. cont)\n"
"      lines[#lines + 1] = indent .. branch .. '[' .. name .. '] ' .. msg\n"
"      local tb = e.tracebacks[i]\n"
"      if tracebacks and tb and tb ~= '' then\n"
"        tb = tb:gsub('^[^\\n]*\\n', '')\n"
"        lines[#lines + 1] = indent .. cont .. '  ' ..\n"
"          tb:gsub('\\n', '\\n' .. indent .. cont .. '  ')\n"
"      end\n"
"    end\n"
"  end\n"
"  return lines\n"
"end\n"
"function EG:render(opts)\n"
"  local tb = type(opts) == 'table' and opts.tracebacks\n"
"  return table.concat(render(self, {}, '', tb), '\\n')\n"
"end\n"
"function EG.__tostring(e) return e:render() end\n"
"M.ErrorGroup = EG\n"
"M.is_error_group = is_eg\n"
"function M.is_timeout(e) return getmetatable(e) == Timeout end\n"
"return M\n";

void lcr_open_errors(lua_State *L, lcr_State *S) {
  if (luaL_loadbuffer(L, errors_lua, sizeof errors_lua - 1, "=corral.errors")
      != LUA_OK)
    lua_error(L);
  lua_call(L, 0, 1);
  lua_getfield(L, -1, "Cancelled");
  S->cancelled_mt = lua_topointer(L, -1);
  S->cancelled_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  S->errors_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

static void pusherrors(lua_State *L) {
  lcr_State *S = lcr_state(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->errors_ref);
}

/*
** Push the Cancelled that scope `s` makes a task raise: why it was
** cancelled, and which scope will absorb it (`scope`, an id). [-0, +1, m]
*/
const char lcr_stop_mark = 0;

/*
** The record of why s was cancelled, or nil. A child still starting that
** its group's cancel reached has none of its own: it shares the group's.
** A record g:stop() wrote speaks only for a stop. [-0, +1, -]
*/
static void pushrecord(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  cr_task_t *owner = s->owner;
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->cancels_ref);
  if (lua_rawgeti(L, -1, (lua_Integer)s->id) != LUA_TTABLE && owner &&
      s == &owner->scope && owner->group &&
      owner->group->scope.cancel_called && s->parent != &owner->group->scope) {
    lua_pop(L, 1);
    lua_rawgeti(L, -1, (lua_Integer)owner->group->scope.id);
  }
  lua_remove(L, -2);
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    if (lua_touserdata(L, -1) == (void *)&lcr_stop_mark &&
        s->source != CR_SRC_STOP) {
      lua_pop(L, 2);
      lua_pushnil(L);
      return;
    }
    lua_pop(L, 1);
  }
}

/*
** Every task that a scope's cancel stops gets the same Cancelled value: it
** is built once and kept beside the record, under the scope's negated id,
** until the scope exits (cancelling 100,000 tasks makes one table).
*/
void lcr_pushcancelled(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  lcr_State *S = E->S;
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->cancels_ref);
  if (lua_rawgeti(L, -1, -(lua_Integer)s->id) == LUA_TTABLE) {
    lua_remove(L, -2);
    return;
  }
  lua_pop(L, 1);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, cr_source_name(s->source));
  lua_setfield(L, -2, "source");
  lua_pushinteger(L, (lua_Integer)s->id);
  lua_setfield(L, -2, "scope");
  pushrecord(L, E, s);
  if (lua_istable(L, -1)) {
    lua_rawgeti(L, -1, 1);
    if (lua_islightuserdata(L, -1)) {        /* the stop mark: no reason */
      lua_pop(L, 1);
      lua_pushnil(L);
    }
    lua_setfield(L, -3, "reason");
    lua_rawgeti(L, -1, 2);
    lua_setfield(L, -3, "origin");
  }
  lua_pop(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->cancelled_mt_ref);
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, -(lua_Integer)s->id);     /* [cancels, e] */
  lua_remove(L, -2);
}

int lcr_iscancelled(lua_State *L, int idx) {
  const void *mt;
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  mt = lua_topointer(L, -1);
  lua_pop(L, 1);
  return mt == lcr_state(L)->cancelled_mt;
}

/* The id of the scope a Cancelled is for (0 if none). [-0, +0, -] */
lua_Integer lcr_cancelled_scope(lua_State *L, int idx) {
  lua_Integer id;
  if (!lua_istable(L, idx)) return 0;
  lua_getfield(L, idx, "scope");
  id = lua_tointeger(L, -1);
  lua_pop(L, 1);
  return id;
}

void lcr_pushtimeout(lua_State *L, double seconds) {
  pusherrors(L);
  lua_getfield(L, -1, "timeout");
  lua_remove(L, -2);
  lua_pushnumber(L, seconds);
  lua_call(L, 1, 1);
}

/* A fresh failure list {errors, tasks, tracebacks}. [-0, +1, m] */
void lcr_errors_new(lua_State *L) {
  lua_createtable(L, 0, 3);
  lua_newtable(L);
  lua_setfield(L, -2, "errors");
  lua_newtable(L);
  lua_setfield(L, -2, "tasks");
  lua_newtable(L);
  lua_setfield(L, -2, "tracebacks");
}

/* Append a failure to the list at errors_idx. [-0, +0, m] */
void lcr_errors_add(lua_State *L, int errors_idx, int err_idx, int name_idx,
                    int tb_idx) {
  static const char *const keys[3] = {"errors", "tasks", "tracebacks"};
  int idx[3], i;
  lua_Integer n;
  errors_idx = lua_absindex(L, errors_idx);
  idx[0] = lua_absindex(L, err_idx);
  idx[1] = lua_absindex(L, name_idx);
  idx[2] = lua_absindex(L, tb_idx);
  lua_getfield(L, errors_idx, "errors");
  n = (lua_Integer)lua_rawlen(L, -1) + 1;
  lua_pop(L, 1);
  for (i = 0; i < 3; i++) {
    lua_getfield(L, errors_idx, keys[i]);
    lua_pushvalue(L, idx[i]);
    if (i == 2 && lua_isnil(L, -1)) {
      lua_pop(L, 1);
      lua_pushliteral(L, "");
    }
    lua_rawseti(L, -2, n);
    lua_pop(L, 1);
  }
}

void lcr_pusherrorgroup(lua_State *L, int errors_idx, size_t dropped) {
  errors_idx = lua_absindex(L, errors_idx);
  pusherrors(L);
  lua_getfield(L, -1, "error_group");
  lua_remove(L, -2);
  lua_pushvalue(L, errors_idx);
  lua_pushinteger(L, (lua_Integer)dropped);
  lua_call(L, 2, 1);
}

static int l_is_cancelled(lua_State *L) {
  lua_pushboolean(L, lcr_iscancelled(L, 1));
  return 1;
}

static int call_errors(lua_State *L, const char *fname) {
  pusherrors(L);
  lua_getfield(L, -1, fname);
  lua_pushvalue(L, 1);
  lua_call(L, 1, 1);
  return 1;
}

static int l_is_timeout(lua_State *L) { return call_errors(L, "is_timeout"); }
static int l_is_error_group(lua_State *L) {
  return call_errors(L, "is_error_group");
}

const luaL_Reg lcr_error_funcs[] = {
  {"is_cancelled", l_is_cancelled},
  {"is_timeout", l_is_timeout},
  {"is_error_group", l_is_error_group},
  {NULL, NULL}
};
