/*
** lerror.c -- Cancelled, Timeout and ErrorGroup values.
**
** The values are plain tables with metatables, so fields read naturally
** (e.reason, e.errors). The mechanism that builds them on hot paths is C;
** the ergonomics (split, flatten, the rendered tree, corral.error_group)
** are bindings/lerror.lua, compiled in as lerror_lua.h so the module
** needs nothing but its .so.
*/
#include <limits.h>
#include <string.h>
#include <stdint.h>
#include "lcorral.h"
#include "lerror_lua.h"

/*
** A text was made with LCR_NOMEM_TEXT in place of a part memory cut short:
** counted in the module state, so that a C host's message made then is not
** kept (corral_host_message), while an error whose own text says the same
** words is. [-0, +0, -]
*/
void lcr_nomem_seen(lua_State *L) {
  lcr_State *S;
  lua_rawgetp(L, LUA_REGISTRYINDEX, &lcr_state_key);
  S = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (S != NULL && S->self == S) S->nomem_texts++;
}

static int nomem_seen(lua_State *L) {
  lcr_nomem_seen(L);
  return 0;
}

/* Run lerror.lua with its core {arg_error} and keep what it returns. */
/* rawmt(v): v's metatable, ignoring a __metatable field (lerror.lua). */
static int rawmt(lua_State *L) {
  if (!lua_getmetatable(L, 1)) lua_pushnil(L);
  return 1;
}

void lcr_open_errors(lua_State *L, lcr_State *S) {
  if (luaL_loadbuffer(L, lerror_lua, lerror_lua_len, "=corral.errors")
      != LUA_OK)
    lua_error(L);
  lua_createtable(L, 0, 8);
  lua_pushcfunction(L, lcr_arg_error);
  lua_setfield(L, -2, "arg_error");
  lua_pushcfunction(L, lcr_method_error);
  lua_setfield(L, -2, "method_error");
  lua_pushcfunction(L, rawmt);
  lua_setfield(L, -2, "rawmt");
  lua_pushcfunction(L, lcr_one_line);
  lua_setfield(L, -2, "one_line");
  lua_pushcfunction(L, lcr_rawtype);
  lua_setfield(L, -2, "type");
  lua_pushliteral(L, LCR_NOMEM_TEXT);
  lua_setfield(L, -2, "nomem_text");
  lua_pushcfunction(L, nomem_seen);
  lua_setfield(L, -2, "nomem_seen");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "ErrorGroup");
  S->error_group_mt = lua_topointer(L, -1);  /* kept alive by errors_ref */
  lua_pop(L, 1);
  lua_getfield(L, -1, "Cancelled");
  S->cancelled_mt = lua_topointer(L, -1);
  S->cancelled_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  S->errors_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushboolean(L, 0);                 /* the name cache, made at first use */
  S->tbnames_ref = luaL_ref(L, LUA_REGISTRYINDEX);
}

/* --- tracebacks ----------------------------------------------------------- */

/*
** Every error that crosses a task, group, scope or lock:with boundary gets
** a traceback, so it must be cheap. It reads like luaL_traceback's, but
** only a C function is named by a search of the loaded modules (the one
** name nothing else gives: "function 'error'", "function 'corral.sleep'");
** a Lua function is named as its caller's code names it. luaL_traceback
** searches every module for every frame, which cost 50-150 us an error;
** here a C function's name (or its absence) is searched once and kept, in
** a cache that starts afresh whenever package.loaded changes; a name kept
** is used only while its module still holds the function there.
*/
enum { TB_HEAD = 10, TB_TAIL = 11 };   /* frames kept around a long cut */

/* lua_getstack, charging the frames it walks (`level` of them: it starts
** from the top) to *steps when steps is not NULL. */
static int get_frame(lua_State *L1, int level, lua_Debug *ar,
                     uint64_t *steps) {
  if (steps) *steps += (uint64_t)level + 1;
  return lua_getstack(L1, level, ar);
}

/* Where a traceback charges the frames it walks: the running engine's
** count (corral.debug_stats().traceback_steps), or nowhere outside a run. */
static uint64_t *frame_steps(lcr_State *S) {
  return S->eng ? &S->eng->frame_steps : NULL;
}

/* Deepest valid level of L1 (a doubling, then a bisection: a walk down
** every level of a deep stack would cost its square), its frames walked
** charged to *steps (or not, NULL). */
int lcr_last_level(lua_State *L1, uint64_t *steps) {
  lua_Debug ar;
  int li = 1, le = 1;
  while (get_frame(L1, le, &ar, steps)) { li = le; le *= 2; }
  while (li < le) {
    int m = (li + le) / 2;
    if (get_frame(L1, m, &ar, steps)) li = m + 1; else le = m;
  }
  return le - 1;
}

/* [..., m, (k)] -> [..., {name, m, k}]: a found name and where it was
** found, so that a later use can check it is still there. */
static void found_entry(lua_State *L, int with_key) {
  const char *m = lua_tostring(L, with_key ? -2 : -1);
  lua_createtable(L, 3, 0);
  if (!with_key)
    lua_pushstring(L, m);
  else if (strcmp(m, LUA_GNAME) == 0)
    lua_pushvalue(L, -2);
  else
    lua_pushfstring(L, "%s.%s", m, lua_tostring(L, -2));
  lua_rawseti(L, -2, 1);
  lua_insert(L, with_key ? -3 : -2);
  if (with_key) lua_rawseti(L, -3, 3);
  lua_rawseti(L, -2, 2);
}

/* [fn] -> [entry] if fn is package.loaded[m][k] (or package.loaded[m]
** itself); else [] and 0. Raw reads only: no metamethod runs.
** [-1, +(0|1), m] */
static int push_loaded_name(lua_State *L) {
  int fn = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, fn + 1)) {                  /* [fn, loaded, m, mod] */
      if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
        lua_pushvalue(L, -2);
        found_entry(L, 0);
        goto found;
      }
      if (lua_type(L, -2) == LUA_TSTRING && lua_istable(L, -1)) {
        lua_pushnil(L);
        while (lua_next(L, -2)) {            /* [fn, loaded, m, mod, k, v] */
          if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, fn)) {
            lua_pushvalue(L, -4);
            lua_pushvalue(L, -3);
            found_entry(L, 1);
            goto found;
          }
          lua_pop(L, 1);
        }
      }
      lua_pop(L, 1);
    }
  }
  lua_settop(L, fn - 1);
  return 0;
found:
  lua_replace(L, fn);
  lua_settop(L, fn);
  return 1;
}

/* A fingerprint of package.loaded: which values are loaded under which
** names (not what the modules hold). */
static uint64_t loaded_print(lua_State *L) {
  uint64_t h = 0;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_istable(L, -1))
    for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) {
      uint64_t k = (uint64_t)(uintptr_t)lua_topointer(L, -2);
      uint64_t v = (uint64_t)(uintptr_t)lua_topointer(L, -1);
      h += (k * 0x9E3779B97F4A7C15u) ^ (v + (h << 6) + (h >> 2));
    }
  lua_pop(L, 1);
  return h;
}

/* The name cache (function -> entry or false, weak keys), afresh whenever
** the modules loaded (or their names) changed since it was made; a module
** gaining a function later is not seen until then. [-0, +1, m] */
static void push_name_cache(lua_State *L, lcr_State *S) {
  uint64_t print = loaded_print(L);
  if (lua_rawgeti(L, LUA_REGISTRYINDEX, S->tbnames_ref) == LUA_TTABLE &&
      print == S->tbnames_print)
    return;
  lua_pop(L, 1);
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_pushvalue(L, -1);
  lua_rawseti(L, LUA_REGISTRYINDEX, S->tbnames_ref);
  S->tbnames_print = print;
}

/* [fn, entry] -> 1 if package.loaded still holds fn where entry found it. */
static int entry_holds(lua_State *L) {
  int ok;
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_rawgeti(L, -2, 2);
  ok = lua_istable(L, -2) && lua_type(L, -1) == LUA_TSTRING;
  if (ok) lua_rawget(L, -2);                     /* [fn, e, loaded, mod] */
  if (ok && lua_rawgeti(L, -3, 3) != LUA_TNIL) { /* [..., mod, k] */
    ok = lua_istable(L, -2);
    if (ok) {
      lua_rawget(L, -2);                         /* [..., mod, mod[k]] */
    } else {
      lua_pop(L, 1);
      lua_pushnil(L);
    }
    lua_remove(L, -2);
  } else if (ok) {
    lua_pop(L, 1);
  }
  ok = ok && lua_rawequal(L, -1, -4);
  lua_pop(L, 2);
  return ok;
}

/* [fn] -> [its name in a loaded module], through the cache at `cache`;
** or [] and 0. A name found before is used only if its module still holds
** fn there. [-1, +(0|1), m] */
static int push_cfunc_name(lua_State *L, int cache) {
  lua_pushvalue(L, -1);
  switch (lua_rawget(L, cache)) {                /* [fn, entry or false] */
    case LUA_TTABLE:
      if (entry_holds(L)) goto named;
      break;
    case LUA_TBOOLEAN:
      lua_pop(L, 2);
      return 0;
  }
  lua_pop(L, 1);
  lua_pushvalue(L, -1);                          /* [fn, fn] */
  if (!push_loaded_name(L)) lua_pushboolean(L, 0);
  lua_pushvalue(L, -2);
  lua_pushvalue(L, -2);                          /* [fn, entry, fn, entry] */
  lua_rawset(L, cache);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 2);
    return 0;
  }
named:
  lua_rawgeti(L, -1, 1);
  lua_replace(L, -3);
  lua_pop(L, 1);                                 /* [name] */
  return 1;
}

/* How the frame ar of L1 is named in a traceback. [-0, +1, m] */
static void push_frame_name(lua_State *L, lua_State *L1, lua_Debug *ar,
                            int cache) {
  if (*ar->what == 'C' && lua_checkstack(L1, 1)) {
    lua_getinfo(L1, "f", ar);
    if (L1 != L) lua_xmove(L1, L, 1);
    if (push_cfunc_name(L, cache)) {
      lua_pushfstring(L, "function '%s'", lua_tostring(L, -1));
      lua_remove(L, -2);
      return;
    }
  }
  if (*ar->namewhat == 'g')                        /* "global" */
    lua_pushfstring(L, "function '%s'", ar->name);
  else if (*ar->namewhat != '\0')
    lua_pushfstring(L, "%s '%s'", ar->namewhat, ar->name);
  else if (*ar->what == 'm')
    lua_pushliteral(L, "main chunk");
  else if (*ar->what != 'C')
    lua_pushfstring(L, "function <%s:%d>", ar->short_src, ar->linedefined);
  else
    lua_pushliteral(L, "?");
}

/* msg (or none), "stack traceback:", then L1's frames from `level` to
** `last`, a long stack cut in the middle, then `tail` if given.
** [-0, +1, m] */
static void traceback_to(lua_State *L, lcr_State *S, lua_State *L1,
                         const char *msg, int level, int last,
                         const char *tail) {
  luaL_Buffer b;
  lua_Debug ar;
  int shown = last - level > TB_HEAD + TB_TAIL ? TB_HEAD : -1, cache;
  push_name_cache(L, S);
  cache = lua_gettop(L);
  luaL_buffinit(L, &b);
  if (msg) {
    luaL_addstring(&b, msg);
    luaL_addchar(&b, '\n');
  }
  luaL_addstring(&b, "stack traceback:");
  while (level <= last && get_frame(L1, level++, &ar, frame_steps(S))) {
    if (shown-- == 0) {
      int n = last - level - TB_TAIL + 1;
      lua_pushfstring(L, "\n\t...\t(skipping %d levels)", n);
      luaL_addvalue(&b);
      level += n;
      continue;
    }
    lua_getinfo(L1, "Slnt", &ar);
    if (ar.currentline <= 0)
      lua_pushfstring(L, "\n\t%s: in ", ar.short_src);
    else
      lua_pushfstring(L, "\n\t%s:%d: in ", ar.short_src, ar.currentline);
    luaL_addvalue(&b);
    push_frame_name(L, L1, &ar, cache);
    luaL_addvalue(&b);
    if (ar.istailcall) luaL_addstring(&b, "\n\t(...tail calls...)");
  }
  if (tail) luaL_addstring(&b, tail);
  luaL_pushresult(&b);
  lua_remove(L, cache);
}

/* What L1 runs at level lv: FN_AT the Lua function at idx of L (idx 0:
** none), CALL_AT lcr_call (a policy's call of a branch), or 0. */
enum { CALL_AT = 1, FN_AT = 2 };

static int runs_at(lua_State *L, lcr_State *S, int idx, lua_State *L1,
                   int lv) {
  lua_Debug ar;
  int r;
  if (!get_frame(L1, lv, &ar, frame_steps(S))) return 0;
  lua_getinfo(L1, "f", &ar);
  if (lua_tocfunction(L1, -1) == lcr_call || !idx) {
    r = lua_tocfunction(L1, -1) == lcr_call ? CALL_AT : 0;
    lua_pop(L1, 1);
    return r;
  }
  lua_xmove(L1, L, 1);
  r = lua_rawequal(L, -1, idx) ? FN_AT : 0;
  lua_pop(L, 1);
  return r;
}

/* The levels deepest_call looks at, at either end of a stack. A policy
** calls a branch near one end or the other (a deep recursion runs in
** between), and each lua_getstack walks `level` frames: near the bottom
** of a deep stack every level looked at costs the whole depth, so there
** the window narrows to keep within CALL_BUDGET frames walked, down to
** CALL_WINDOW_MIN levels (a policy's call of its branch sits a few levels
** above a task's bottom, task_main). A stack overflow is 200,000 frames
** deep: with a fixed window its traceback walked 13 million frames, and
** its failure took a quarter of a second a task (longer as memory aged). */
#define CALL_WINDOW 64
#define CALL_WINDOW_MIN 8
#define CALL_BUDGET (1 << 20)

static int bottom_window(int last) {
  int w = CALL_BUDGET / (last + 1);
  return w < CALL_WINDOW_MIN ? CALL_WINDOW_MIN
                             : w > CALL_WINDOW ? CALL_WINDOW : w;
}

/* Levels hi down to lo (deepest first) for deepest_call: 1 once it knows
** (fn found, or a call found when there is no fn to look for). */
static int scan(lua_State *L, lcr_State *S, int idx, lua_State *L1, int hi,
                int lo, int *at) {
  for (; hi >= lo; hi--) {
    int r = runs_at(L, S, idx, L1, hi);
    if (r == FN_AT) {
      *at = hi;
      return 1;
    }
    if (r == CALL_AT && at[1] < 0) {
      at[1] = hi;
      if (!idx) return 1;
    }
  }
  return 0;
}

/* Where a traceback from `level` (down to `last`, L1's deepest) ends: the
** deepest level at which L1 runs the Lua function at idx of L (idx 0:
** none; *kind FN_AT), or else at the frame lcr_call called (*kind
** CALL_AT); -1 (*kind 0) when neither runs near either end. One pass
** looks for both. [-0, +0, -] */
static int deepest_call(lua_State *L, lcr_State *S, int idx, lua_State *L1,
                        int level, int last, int *kind) {
  int lo, w = bottom_window(last), at[2] = {-1, -1};
  *kind = 0;
  if (idx && (!lua_isfunction(L, idx) || lua_iscfunction(L, idx))) idx = 0;
  if (!lua_checkstack(L1, 1) || !lua_checkstack(L, 1)) return -1;
  lo = last - level > w + CALL_WINDOW ? last - w : level;
  if (!scan(L, S, idx, L1, last, lo, at) && lo > level)
    scan(L, S, idx, L1, level + CALL_WINDOW, level, at);
  if (at[0] >= 0) {
    *kind = FN_AT;
    return at[0];
  }
  if (at[1] >= 0) *kind = CALL_AT;
  return at[1] >= 0 ? at[1] - 1 : -1;
}

/* A traceback ends at a policy's branch, as a task's ends at its function:
** the policy's frames below corral._call give way to "[C]: in ?". `last`
** is L1's deepest level. */
static void traceback_at(lua_State *L, lcr_State *S, lua_State *L1,
                         const char *msg, int level, int last, int upto) {
  if (upto >= level)
    traceback_to(L, S, L1, msg, level, upto, "\n\t[C]: in ?");
  else
    traceback_to(L, S, L1, msg, level, last, NULL);
}

void lcr_traceback(lua_State *L, lcr_State *S, lua_State *L1,
                   const char *msg, int level) {
  int last = lcr_last_level(L1, frame_steps(S)), kind;
  traceback_at(L, S, L1, msg, level, last,
               deepest_call(L, S, 0, L1, level, last, &kind));
}

/* corral._traceback([msg [, level [, fn]]]): debug.traceback for corral's
** own Lua (the policies' outcomes), at lcr_traceback's cost. With fn (a
** Lua function) running on the stack, the frames below its outermost call
** (the policy's own) give way to "[C]: in ?", as a task's base reads, and
** a second result true says so. */
static int l_traceback(lua_State *L) {
  lcr_State *S = lcr_state(L);
  const char *msg = lua_tostring(L, 1);
  lua_Integer lv = luaL_optinteger(L, 2, 1);
  int level = lv < 0 ? 0 : lv > INT_MAX / 2 ? INT_MAX / 2 : (int)lv;
  int upto, last, kind;
  if (msg == NULL && !lua_isnoneornil(L, 1)) {
    lua_pushvalue(L, 1);                 /* a non-string message: as is */
    return 1;
  }
  last = lcr_last_level(L, frame_steps(S));
  upto = deepest_call(L, S, lua_isnoneornil(L, 3) ? 0 : 3, L, level, last,
                      &kind);
  traceback_at(L, S, L, msg, level, last, upto);
  if (kind != FN_AT) return 1;
  lua_pushboolean(L, 1);
  return 2;
}

/* Stack: [..., module]. The Lua functions of lerror.lua that are the
** module's own: corral.error_group. */
void lcr_export_errors(lua_State *L, lcr_State *S) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->errors_ref);
  lua_getfield(L, -1, "new");
  lua_setfield(L, -3, "error_group");
  /* corral._describe: tostring that never raises, for corral's own Lua
  ** (lio.lua, the command, the policies) that reports errors; internal,
  ** like corral._testing */
  lua_getfield(L, -1, "describe");
  lua_setfield(L, -3, "_describe");
  lua_pop(L, 1);
  /* corral._one_line: a name as one line of text, escaped as the tree and
  ** an ErrorGroup show it (the policies' own lines on stderr) */
  lua_pushcfunction(L, lcr_one_line);
  lua_setfield(L, -2, "_one_line");
}

/*
** A Cancelled that belongs to no live scope (so none absorbs it): {source,
** reason} with the Cancelled metatable, for a signal that ended a run, a
** task abandoned at a deadlock, or a scope whose record could not be made.
** reason may be NULL. [-0, +1, m]
*/
void lcr_pushbarecancelled(lua_State *L, lcr_State *S, const char *source,
                           const char *reason) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, source);
  lua_setfield(L, -2, "source");
  if (reason) {
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->cancelled_mt_ref);
  lua_setmetatable(L, -2);
}

static void pushstateerrors(lua_State *L, lcr_State *S) {
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->errors_ref);
}

static void pusherrors(lua_State *L) {
  lcr_State *S = lcr_state(L);
  lua_rawgeti(L, LUA_REGISTRYINDEX, S->errors_ref);
}

/* --- cancel records --------------------------------------------------
**
** The engine keeps each cancelled scope's record: source, origin task and
** a reason handle this file supplies. A handle is a reference into the
** run's records table to {reason, origin name, Cancelled}; the engine
** gives it back (lcr_release) when the scope exits. The Cancelled a scope
** makes tasks raise is built once, kept in its record, and mapped to its
** scope in the run's live table while the scope lives: that mapping is the
** Cancelled's identity. Once the scope has exited, or the run has ended,
** a Cancelled is no longer live and no scope absorbs it.
*/

/* --- lcr_PtrSet (see lcorral.h) --- */

static const char gone_mark;          /* a removed key's slot */
#define GONE ((const void *)&gone_mark)

static size_t ptr_slot(const void *p, size_t cap) {
  uint64_t h = (uint64_t)(uintptr_t)p;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return (size_t)h & (cap - 1);
}

static int ptrset_has_room(const lcr_PtrSet *set) {
  return (set->used + 1) * 4 <= set->cap * 3;
}

/* Room for one more key: a new array for 4x the live keys when 3/4 of
** this one is used (removed keys included). [-0, +0, m] */
static void ptrset_room(lua_State *L, lcr_PtrSet *set) {
  size_t cap = 16, i;
  const void **keys;
  if (ptrset_has_room(set)) return;
  while (cap < 4 * (set->live + 1)) cap *= 2;
  keys = lua_newuserdatauv(L, cap * sizeof *keys, 0);
  memset(keys, 0, cap * sizeof *keys);
  for (i = 0; i < set->cap; i++) {
    const void *k = set->keys[i];
    size_t j;
    if (k == NULL || k == GONE) continue;
    for (j = ptr_slot(k, cap); keys[j] != NULL; j = (j + 1) & (cap - 1)) {}
    keys[j] = k;
  }
  if (set->ref == LUA_NOREF)
    set->ref = luaL_ref(L, LUA_REGISTRYINDEX);
  else
    lua_rawseti(L, LUA_REGISTRYINDEX, set->ref);   /* the slot exists */
  set->keys = keys;
  set->cap = cap;
  set->used = set->live;
}

/* The slot of p, or of the NULL that ends its probe. [-0, +0, -] */
static size_t ptrset_find(const lcr_PtrSet *set, const void *p) {
  size_t i = ptr_slot(p, set->cap);
  while (set->keys[i] != NULL && set->keys[i] != p) i = (i + 1) & (set->cap - 1);
  return i;
}

/* Add p to a set that has room (ptrset_has_room): allocates nothing. */
static void ptrset_insert(lcr_PtrSet *set, const void *p) {
  size_t i = ptrset_find(set, p);
  if (set->keys[i] == p) return;
  set->keys[i] = p;
  set->used++;
  set->live++;
}

static void ptrset_remove(lcr_PtrSet *set, const void *p) {
  size_t i;
  if (set->cap == 0) return;
  i = ptrset_find(set, p);
  if (set->keys[i] != p) return;
  set->keys[i] = GONE;                 /* (its probe chain goes on) */
  set->live--;
}

static int ptrset_has(const lcr_PtrSet *set, const void *p) {
  return set->cap > 0 && set->keys[ptrset_find(set, p)] == p;
}

void lcr_ptrset_close(lua_State *L, lcr_PtrSet *set) {
  luaL_unref(L, LUA_REGISTRYINDEX, set->ref);
  set->ref = LUA_NOREF;
  set->keys = NULL;
  set->cap = set->used = set->live = 0;
}

/* A new record: the reason at index `reason` (0 = none) and the name of
** task `origin` (NULL = none). [-0, +0, m] */
void *lcr_record(lua_State *L, lcr_Engine *E, int reason, cr_task_t *origin) {
  int ref;
  if (reason) reason = lua_isnoneornil(L, reason) ? 0 : lua_absindex(L, reason);
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
  lua_createtable(L, 3, 0);
  if (reason) {
    lua_pushvalue(L, reason);
    lua_rawseti(L, -2, 1);
  }
  if (origin && lcr_pushtask(L, E, origin)) {
    lcr_pushtaskname(L, lua_touserdata(L, -1));
    lua_rawseti(L, -3, 2);
  }
  if (origin) lua_pop(L, 1);
  ref = luaL_ref(L, -2);
  lua_pop(L, 1);
  return (void *)(intptr_t)ref;
}

/* The engine's release callback: the scope exited; its Cancelled dies. */
void lcr_release(cr_engine_t *e, void *handle) {
  lcr_Engine *E = (lcr_Engine *)e;
  lua_State *L = E->L;
  int top = lua_gettop(L), ref = (int)(intptr_t)handle;
  int handle_was_cached = handle == E->lastc_handle &&
                          E->lastc_ref != LUA_NOREF;
  if (handle_was_cached) {              /* the cached Cancelled dies too */
    E->lastc_handle = NULL;
    E->lastc = NULL;
  }
  if (!lua_checkstack(L, 4)) return;     /* keep the ref: a harmless leak */
  if (handle_was_cached) {              /* let it go (the slot exists) */
    lua_pushboolean(L, 0);
    lua_rawseti(L, LUA_REGISTRYINDEX, E->lastc_ref);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
  if (lua_rawgeti(L, -1, ref) == LUA_TTABLE &&
      lua_rawgeti(L, -1, 3) == LUA_TTABLE) {
    ptrset_remove(&E->live, lua_topointer(L, -1));   /* allocates nothing */
  }
  luaL_unref(L, top + 1, ref);
  lua_settop(L, top);
}

/* Copy reason and origin of record `from` into record `to`. */
static void copyrecord(lua_State *L, lcr_Engine *E, void *from, void *to) {
  int i;
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);
  lua_rawgeti(L, -1, (int)(intptr_t)from);
  lua_rawgeti(L, -2, (int)(intptr_t)to);
  if (lua_istable(L, -1) && lua_istable(L, -2))
    for (i = 1; i <= 2; i++) {
      lua_rawgeti(L, -2, i);
      lua_rawseti(L, -2, i);
    }
  lua_pop(L, 3);
}

/* Build the Cancelled of record `rec` (at -1) for scope s. [-0, +1, m] */
static void newcancelled(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  lua_createtable(L, 0, 3);
  lua_pushstring(L, cr_source_name(s->cancel.source));
  lua_setfield(L, -2, "source");
  lua_rawgeti(L, -2, 1);
  lua_setfield(L, -2, "reason");
  lua_rawgeti(L, -2, 2);
  lua_setfield(L, -2, "origin");
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->S->cancelled_mt_ref);
  lua_setmetatable(L, -2);
  /* What allocates may run a finalizer that asks for this Cancelled too
  ** and makes one: that one is the record's then. So the set has room
  ** before rec[3] is looked at again, and from there to the insert nothing
  ** allocates (rec's slot 3 exists: lcr_record). */
  for (;;) {
    ptrset_room(L, &E->live);
    if (lua_rawgeti(L, -2, 3) == LUA_TTABLE) {  /* made meanwhile */
      lua_replace(L, -2);
      return;
    }
    lua_pop(L, 1);
    if (ptrset_has_room(&E->live)) break;
  }
  lua_pushvalue(L, -1);
  lua_rawseti(L, -3, 3);                       /* rec[3] = e */
  ptrset_insert(&E->live, lua_topointer(L, -1));  /* live while s is */
}

/*
** The Cancelled at -1 is record `handle`'s: the next push of it, and the
** checks of what a task raised, find it without the tables. A cancel of
** 100,000 tasks pushes and checks one value 300,000 times. The registry
** slot exists, so setting it cannot allocate. [-0, +0, -]
*/
static void remember_cancelled(lua_State *L, lcr_Engine *E, void *handle) {
  if (E->lastc_ref == LUA_NOREF) return;
  lua_pushvalue(L, -1);
  lua_rawseti(L, LUA_REGISTRYINDEX, E->lastc_ref);
  E->lastc_handle = handle;
  E->lastc = lua_topointer(L, -1);
}

/* 1 if the value at idx is the Cancelled remembered last. [-0, +0, -] */
static int is_lastc(lua_State *L, const lcr_Engine *E, int idx) {
  return E->lastc != NULL && lua_type(L, idx) == LUA_TTABLE &&
         lua_topointer(L, idx) == E->lastc;
}

/*
** Push the Cancelled that scope `s` makes a task raise: every task that
** s's cancel stops gets the same value (cancelling 100,000 tasks makes one
** table). A cancel with no record yet (a deadline's) gets one. [-0, +1, m]
*/
void lcr_pushcancelled(lua_State *L, lcr_Engine *E, cr_scope_t *s) {
  if (s->cancel.reason != NULL && s->cancel.reason == E->lastc_handle) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, E->lastc_ref);
    return;
  }
  if (s->cancel.reason == NULL) {
    void *h = lcr_record(L, E, 0, NULL);
    const cr_scope_t *like = cr_scope_record(s);
    if (like != s && like->cancel.reason)
      copyrecord(L, E, like->cancel.reason, h);
    cr_scope_set_reason(s, h);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, E->records_ref);    /* [records] */
  if (s->cancel.reason == NULL) {
    lua_pushnil(L);                                      /* [records, nil] */
  } else {
    lua_rawgeti(L, -1, (int)(intptr_t)s->cancel.reason); /* [records, rec] */
  }
  if (!lua_istable(L, -1)) {
    /* No record (set_reason refused): an unidentified Cancelled, which
    ** no scope absorbs; nothing maps it to s. */
    lua_pop(L, 2);
    lcr_pushbarecancelled(L, E->S, cr_source_name(s->cancel.source), NULL);
    return;
  }
  if (lua_rawgeti(L, -1, 3) != LUA_TTABLE) {            /* [records, rec, e] */
    lua_pop(L, 1);
    newcancelled(L, E, s);
  }
  lua_replace(L, -3);
  lua_pop(L, 1);
  remember_cancelled(L, E, s->cancel.reason);
}

/* What lcr_deadcancel says of a Cancelled whose scope has gone. */
const char lcr_dead_msg[] =
  "a Cancelled was raised outside the scope it cancelled (that scope has "
  "exited, or belongs to another run): it is an ordinary error here";

/* What it says of a live Cancelled that ends a task no cancelled scope of
** which takes it (another task's, handed over). */
const char lcr_stray_msg[] =
  "a Cancelled reached the end of a task that no cancelled scope encloses";

/* The head of the second tree of a deadlock the cancel could not break. */
const char lcr_found_tree_msg[] =
  "The tasks when the deadlock was found, before its cancel:\n";

/* 1 if the value at idx is a table whose metatable is mt (raw: no
** metamethod runs). [-0, +0, -] */
static int has_mt(lua_State *L, int idx, const void *mt) {
  const void *got;
  if (!lua_istable(L, idx) || !lua_getmetatable(L, idx)) return 0;
  got = lua_topointer(L, -1);
  lua_pop(L, 1);
  return got == mt;
}

/* 1 if the value at idx is an ErrorGroup. */
int lcr_is_error_group(lua_State *L, lcr_State *S, int idx) {
  return has_mt(L, idx, S->error_group_mt);
}

int lcr_iscancelled(lua_State *L, lcr_State *S, int idx) {
  if (S->eng != NULL && is_lastc(L, S->eng, idx)) return 1;
  return has_mt(L, idx, S->cancelled_mt);
}

/*
** LCR_PLAIN if the error at idx is not a Cancelled; LCR_LIVE if it is the
** Cancelled of a scope still entered in this run; LCR_DEAD otherwise (its
** scope exited, another run's, or a forgery). Reads nothing through
** metamethods, so it never raises. [-0, +0, -]
*/
int lcr_unwinding(lua_State *L, lcr_Engine *E, int idx) {
  int live;
  if (is_lastc(L, E, idx)) return LCR_LIVE;     /* its record lives */
  if (!lcr_iscancelled(L, E->S, idx)) return LCR_PLAIN;
  live = ptrset_has(&E->live, lua_topointer(L, idx));
  return live ? LCR_LIVE : LCR_DEAD;
}

static int tostring_p(lua_State *L) {
  luaL_tolstring(L, 1, NULL);
  return 1;
}

/* tostring(v at idx) that never raises but for memory. A __tostring that
** ran out of memory is not a broken one: its text says so (LCR_NOMEM_TEXT),
** so that a message made then is not kept in place of the real one; a
** message handler keeps the error it was given. [-0, +1, m] */
void lcr_tostring(lua_State *L, int idx) {
  int rc;
  idx = lua_absindex(L, idx);
  lua_pushcfunction(L, tostring_p);
  lua_pushvalue(L, idx);
  rc = lua_pcall(L, 1, 1, 0);
  if (rc == LUA_ERRMEM) {
    lua_pop(L, 1);
    lcr_nomem_seen(L);
    lua_pushliteral(L, LCR_NOMEM_TEXT);
    return;
  }
  if (rc != LUA_OK || !lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushfstring(L, "(a %s value whose __tostring failed)",
                    luaL_typename(L, idx));
  }
}

/* Replace a Cancelled that no scope may absorb with a plain error saying
** why. [-0, +0, m] */
void lcr_deadcancel(lua_State *L, int idx, const char *why) {
  idx = lua_absindex(L, idx);
  lcr_tostring(L, idx);
  lua_pushfstring(L, "%s (%s)", why, lua_tostring(L, -1));
  lua_replace(L, idx);
  lua_pop(L, 1);
}

void lcr_pushtimeout(lua_State *L, double seconds) {
  pusherrors(L);
  lua_getfield(L, -1, "timeout");
  lua_remove(L, -2);
  lua_pushnumber(L, seconds);
  lua_call(L, 1, 1);
}

/* The lists of a failure list, in step: entry i of each is failure i.
** seqs (when each failed: the order) may be missing from a list that
** debug.setuservalue put in place; the other three may not. */
static const char *const list_keys[4] = {"errors", "tasks", "tracebacks",
                                         "seqs"};

/* A fresh failure list {errors, tasks, tracebacks, seqs}. [-0, +1, m] */
void lcr_errors_new(lua_State *L) {
  int i;
  lua_createtable(L, 0, 4);
  for (i = 0; i < 4; i++) {
    lua_newtable(L);
    lua_setfield(L, -2, list_keys[i]);
  }
}

/* t[k] of the table at idx, raw: an errors list replaced with
** debug.setuservalue may answer through metamethods. [-0, +1, -] */
static int rawfield(lua_State *L, int idx, const char *k) {
  idx = lua_absindex(L, idx);
  lua_pushstring(L, k);
  return lua_rawget(L, idx);
}

/* 1 if the value at idx is an errors list (lcr_errors_new): a group's
** user value, which debug.setuservalue may have replaced. [-0, +0, -] */
int lcr_errors_ok(lua_State *L, int idx) {
  int i, ok = lua_type(L, idx) == LUA_TTABLE;
  idx = lua_absindex(L, idx);
  for (i = 0; ok && i < 3; i++) {            /* (seqs is optional) */
    ok = rawfield(L, idx, list_keys[i]) == LUA_TTABLE;
    lua_pop(L, 1);
  }
  return ok;
}

/* Where a failure numbered seq goes in a list of n: after every one that
** failed before it (usually at the end; earlier when an on_error handler
** held a failure back while later ones were recorded). [-0, +0, -] */
static lua_Integer seq_position(lua_State *L, int errors_idx, lua_Integer n,
                                lua_Integer seq) {
  lua_Integer pos = n + 1;
  int top = lua_gettop(L), later = 1;
  if (rawfield(L, errors_idx, "seqs") == LUA_TTABLE)
    for (; pos > 1 && later; pos -= later) {
      later = lua_rawgeti(L, top + 1, pos - 1) == LUA_TNUMBER &&
              lua_tointeger(L, -1) > seq;
      lua_pop(L, 1);
    }
  lua_settop(L, top);
  return pos;
}

/* Put the value at v in list[pos], moving list[pos..last - 1] up one
** (what was at last goes: it is replaced, or dropped). Every index it
** writes exists already, so it allocates nothing. */
static void insert_at(lua_State *L, int list, lua_Integer last,
                      lua_Integer pos, int v) {
  lua_Integer k;
  for (k = last - 1; k >= pos; k--) {
    lua_rawgeti(L, list, k);
    lua_rawseti(L, list, k + 1);
  }
  lua_pushvalue(L, v);
  lua_rawseti(L, list, pos);
}

/* Make room for entry n + 1 in every list of the failure list at idx
** before any of them changes: memory running out here leaves them as they
** were (a slot set and cleared again keeps its room). [-0, +0, m] */
static void reserve(lua_State *L, int idx, lua_Integer n) {
  int i;
  for (i = 0; i < 4; i++) {
    if (rawfield(L, idx, list_keys[i]) == LUA_TTABLE) {
      lua_pushboolean(L, 1);
      lua_rawseti(L, -2, n + 1);
      lua_pushnil(L);
      lua_rawseti(L, -2, n + 1);
    }
    lua_pop(L, 1);
  }
}

/*
** Add failure number seq to the failure list at errors_idx, in the order
** the failures happened. When the group keeps no more (`full`: max_errors
** reached), one that failed before the last kept takes its place, which is
** dropped instead: the first max_errors failures are the ones kept.
** [-0, +0, m]
*/
void lcr_errors_add(lua_State *L, int errors_idx, int err_idx, int name_idx,
                    int tb_idx, lua_Integer seq, int full) {
  int idx[4], i;
  lua_Integer n, pos;
  errors_idx = lua_absindex(L, errors_idx);
  idx[0] = lua_absindex(L, err_idx);
  idx[1] = lua_absindex(L, name_idx);
  lua_pushvalue(L, tb_idx);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushliteral(L, "");
  }
  idx[2] = lua_gettop(L);
  lua_pushinteger(L, seq);
  idx[3] = lua_gettop(L);
  /* counted by names: an error value may be nil, a name never is */
  n = rawfield(L, errors_idx, "tasks") == LUA_TTABLE
        ? (lua_Integer)lua_rawlen(L, -1) : -1;
  lua_pop(L, 1);
  pos = n < 0 ? 0 : seq_position(L, errors_idx, n, seq);
  if (pos > 0 && (!full || pos <= n)) {
    if (!full) reserve(L, errors_idx, n);
    for (i = 0; i < 4; i++) {
      if (rawfield(L, errors_idx, list_keys[i]) == LUA_TTABLE)
        insert_at(L, lua_gettop(L), full ? n : n + 1, pos, idx[i]);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 2);
}

/*
** Failures G counted but could not list because memory ran out are listed
** now, when the group ends and its children's memory is free again, as
** "not enough memory" (the string Lua keeps for that error), so the
** ErrorGroup does not read "0 failures"; their task names were lost with
** them: "(name lost)". Memory running out here still raises that error. [-0, +0, m]
*/
static void list_lost(lua_State *L, int errors_idx, size_t lost,
                      lua_Integer seq) {
  int name, tb;
  lua_pushliteral(L, "(name lost)");
  name = lua_gettop(L);
  lua_pushliteral(L, "");
  tb = lua_gettop(L);
  lua_pushliteral(L, "not enough memory");
  while (lost-- > 0) lcr_errors_add(L, errors_idx, -1, name, tb, ++seq, 0);
  lua_pop(L, 3);
}

/*
** The ErrorGroup of group G from its errors list at errors_idx. A failure
** the engine counted but that could not be listed (memory, or a debug hook
** raising while it was recorded) counts as not kept, beside those beyond
** max_errors; so does every failure when there is no list at all. When
** memory was what ran out, those are listed (list_lost).
*/
void lcr_pusherrorgroup(lua_State *L, lcr_State *S, int errors_idx,
                        const lcr_Group *G) {
  const cr_group_t *g = &G->g;
  lua_Integer listed = 0;
  size_t lost;
  errors_idx = lua_absindex(L, errors_idx);
  if (!lcr_errors_ok(L, errors_idx)) {
    lcr_errors_new(L);
    lua_replace(L, errors_idx);
  }
  if (rawfield(L, errors_idx, "tasks") == LUA_TTABLE)
    listed = (lua_Integer)lua_rawlen(L, -1);
  lua_pop(L, 1);
  lost = g->nerrors > (size_t)listed ? g->nerrors - (size_t)listed : 0;
  if (lost > 0 && G->lost_memory) {
    list_lost(L, errors_idx, lost, G->fail_seq);
    lost = 0;
  }
  pushstateerrors(L, S);
  lua_getfield(L, -1, "from_list");
  lua_remove(L, -2);
  lua_pushvalue(L, errors_idx);
  lua_pushinteger(L, (lua_Integer)(g->dropped + lost));
  lua_call(L, 2, 1);
}

static int l_is_cancelled(lua_State *L) {
  lua_pushboolean(L, lcr_iscancelled(L, lcr_state(L), 1));
  return 1;
}

/* What the error at 1 is to the running task: as lcr_unwinding; and, at
** the end of the task (at_end: a policy's branch, whose function is the
** whole task), a live Cancelled that no cancelled scope of the task would
** take (another task's, handed over) is FOREIGN, as ended_cancelled in
** ltask.c finds it: an ordinary error. (Before the end, scopes the task has
** yet to leave decide, as it unwinds: it goes on.) */
enum { FOREIGN = -1 };
static int unwinding_here(lua_State *L, lcr_Engine *E, int at_end) {
  int u = lcr_unwinding(L, E, 1);
  if (at_end && u == LCR_LIVE && E->e.current != NULL &&
      cr_task_cancelled_now(E->e.current) == NULL)
    return FOREIGN;
  return u;
}

/* corral._cancel_live(e [, at_end]): e is a Cancelled (false for anything
** else) that goes on cancelling: its scope is still entered (and, at_end,
** the running task is cancelled: see unwinding_here). Not one re-raised
** after its scope exited: an ordinary error (internal: the Lua policies'
** outcomes, tcp.serve). */
static int l_cancel_live(lua_State *L) {
  lcr_Engine *E = lcr_state(L)->eng;
  int at_end = lua_toboolean(L, 2);
  lua_pushboolean(L, E != NULL && unwinding_here(L, E, at_end) == LCR_LIVE);
  return 1;
}

/* corral._dead_cancel(e [, at_end]): e, or, for a Cancelled that is not
** live (_cancel_live), the ordinary error the core makes of it (a group's
** failure, a task's), so that a policy files it as they do (internal: the
** Lua policies' outcomes). */
static int l_dead_cancel(lua_State *L) {
  lcr_Engine *E = lcr_state(L)->eng;
  int at_end = lua_toboolean(L, 2);
  lua_settop(L, 1);
  switch (E != NULL ? unwinding_here(L, E, at_end) : LCR_PLAIN) {
    case LCR_DEAD:
      lcr_deadcancel(L, 1, lcr_dead_msg);
      break;
    case FOREIGN:
      lcr_deadcancel(L, 1, lcr_stray_msg);
      break;
    default:
      break;
  }
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
  {"_traceback", l_traceback},           /* internal, like _describe */
  {"_cancel_live", l_cancel_live},       /* internal */
  {"_dead_cancel", l_dead_cancel},       /* internal */
  {NULL, NULL}
};
