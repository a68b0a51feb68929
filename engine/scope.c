/*
** scope.c -- cancel scopes: the tree, level-triggered cancellation and
** delivery to parked tasks.
**
** Cancellation is data: a scope's cancel_called never goes back to false,
** and a task is cancelled while any scope it can see (up to and including
** the nearest shield) has it set. Nothing is remembered per task, so a
** pcall that swallows a Cancelled gets another at the next cancellation
** point (see spec/scope_spec.lua, level-triggered cases).
*/
#include "internal.h"

static void deadline_cb(cr_timer_t *t);

/* The head of a scope, all a task's own scope has (is_task says which). */
void cr__scope_init(cr_engine_t *e, cr_scope_t *s, int is_task) {
  s->engine = e;
  s->parent = NULL;
  s->id = e->next_id++;
  s->cancel.source = CR_SRC_NONE;
  s->cancel.origin = 0;
  s->cancel.reason = NULL;
  s->cancel_called = s->cancel_caught = s->shield = 0;
  s->entered = s->exited = s->is_group = s->as_group = s->cancel_owed = 0;
  s->is_task = is_task ? 1 : 0;
  cr__queue_init(&s->children);
  cr__queue_init(&s->sibling);
}

void cr__scope_link(cr_scope_t *s, cr_scope_t *parent) {
  s->parent = parent;
  cr__queue_insert_tail(parent ? &parent->children : &s->engine->roots,
                        &s->sibling);
  s->entered = 1;
  s->engine->stats.scopes++;
}

void cr__scope_unlink(cr_scope_t *s) {
  cr_engine_t *e = s->engine;
  if (e->absorb_parent == s || e->absorb_above == s) e->absorb_parent = NULL;
  if (e->absorb_asked == s || e->absorb_answer == s) e->absorb_asked = NULL;
  if (!s->is_task) cr_timer_stop(e, &s->deadline_);
  if (cr__queue_linked(&s->sibling)) cr__queue_remove(&s->sibling);
  /* Children that are still entered can only be task scopes of a group
  ** torn down by a broken host: they become roots rather than dangle, so
  ** cr_engine_abandon still finds them. */
  while (!cr__queue_empty(&s->children)) {
    cr_scope_t *c = cr__queue_data(cr__queue_head(&s->children), cr_scope_t,
                                   sibling);
    cr__queue_remove(&c->sibling);
    if (e->absorb_parent == c) e->absorb_parent = NULL;
    if (e->absorb_asked == c) e->absorb_asked = NULL;
    c->parent = NULL;
    /* ... and no longer report to it: its record may go before they end */
    if (c->is_task && s->is_group && cr_scope_owner(c)->group == (cr_group_t *)s)
      cr_scope_owner(c)->group = NULL;
    cr__queue_insert_tail(&e->roots, &c->sibling);
    cr__cancel_gen_bump(e);            /* its chain changed: memos go */
  }
  s->entered = 0;
  s->exited = 1;
  s->engine->stats.scopes--;
  cr__scope_drop_reason(s);   /* the binding hears so through release */
}

int cr_scope_enter(cr_task_t *task, cr_scope_t *s, double deadline,
                   int shield) {
  int rc;
  cr__scope_init(task->scope.engine, s, 0);
  s->owner_ = task;
  cr_timer_init(&s->deadline_, deadline_cb);
  s->shield = shield ? 1 : 0;
  cr__scope_link(s, task->cur);
  task->cur = s;
  rc = cr_scope_set_deadline(s, deadline);
  if (rc) {
    task->cur = s->parent;
    cr__scope_unlink(s);
  }
  return rc;
}

/*
** The scope that catches a Cancelled going on outward from p (Trio's rule
** at each scope it leaves: one that is cancelled, with no cancelled scope
** visible outside it): the outermost cancelled scope visible from the
** first scope on the way that sees one. A shield set since the cancel (on
** a group whose child unwinds, say) hides that cancel from new checkpoints,
** not from a Cancelled already on its way out: the walk goes on past it.
** NULL: nothing outside catches it. (Only for a task that was found
** cancelled: one that never was and raises a Cancelled it was handed
** fails, where no cancel is visible to it.)
*/
static cr_scope_t *catcher(cr_scope_t *p) {
  while (p != NULL) {
    cr_scope_t *found = cr_scope_absorber(p);
    if (found != NULL) return found;
    while (p != NULL && !p->shield) p = p->parent;   /* where it stopped */
    if (p != NULL) p = p->parent;
  }
  return NULL;
}

/*
** Where a Cancelled that reaches s's exit now ends (Trio's rule, decided
** at exit, not when it was raised): s catches it if s is cancelled and no
** cancelled scope outside s is visible; otherwise it goes on to whichever
** scope outside s would catch it now. An outer cancel that arrived while
** the Cancelled unwound (a pcall handler, a <close>, a shielded cleanup)
** therefore moves the catch outward.
*/
/* A Cancelled that scope `to` absorbs reaches the task's own level, unless
** `to` is one of the task's scopes from `from` up (an inner catch): a
** t:cancel is then no longer owed (cr_task_returned). */
static void reached(cr_task_t *t, const cr_scope_t *from,
                    const cr_scope_t *to) {
  const cr_scope_t *x;
  if (!t->scope.cancel_owed && !t->delivered) return;
  for (x = from; x != NULL && x != &t->scope; x = x->parent)
    if (x == to) return;
  t->scope.cancel_owed = t->delivered = 0;   /* (nor owed again: asked) */
}

static cr_end_t judge(cr_scope_t *s, cr_scope_t **to) {
  cr_scope_t *outer = s->shield ? NULL : cr_scope_absorber(s->parent);
  cr_task_t *owner = cr_scope_owner(s);
  *to = NULL;
  if (s->cancel_called && outer == NULL) {
    s->cancel_caught = 1;
    if (owner) owner->saw_cancel = 0;  /* caught: none on its way out now */
    return CR_END_ABSORBED;
  }
  /* Not ours: it goes on (past a shield too, as an exception would), when
  ** it is one corral delivered: the owner was found cancelled, or a child
  ** of the group s passed one out through it (a Cancelled the group's body
  ** raised counts only as its task's). A task never found cancelled that
  ** unwinds a Cancelled it was handed has it caught only where it can see
  ** a cancel: else it fails. */
  if (outer == NULL)
    outer = (owner && owner->saw_cancel) ||
            (s->is_group && ((cr_group_t *)s)->child_passed)
              ? catcher(s->parent) : cr_scope_absorber(s->parent);
  if (outer != NULL && owner) {
    owner->saw_cancel = 1;                             /* on its way out */
    reached(owner, s->parent, outer);
  }
  *to = outer;
  return CR_END_PASSED;
}

cr_end_t cr_scope_leave(cr_scope_t *s, int unwinding, cr_scope_t **to) {
  cr_end_t end = CR_END_NORMAL;
  cr_scope_t *dummy;
  cr_task_t *owner;
  if (to == NULL) to = &dummy;
  *to = NULL;
  if (!s->entered) return end;
  if (unwinding) end = judge(s, to);
  /* leaving a shield may expose an outer cancel: forget "clean" */
  owner = cr_scope_owner(s);
  if (s->shield && owner) owner->clean_gen = UINT32_MAX;
  if (owner && owner->cur == s) owner->cur = s->parent;
  cr__scope_unlink(s);
  return end;
}

void cr_scope_exit(cr_scope_t *s) { cr_scope_leave(s, 0, NULL); }

int cr_scope_live(const cr_scope_t *s) { return s->entered; }

const cr_scope_t *cr_scope_record(const cr_scope_t *s) {
  const cr_task_t *t = cr_scope_owner(s);
  if (s->as_group && s->cancel.reason == NULL && t->group)
    return &t->group->scope;
  return s;
}

/* Decide for a task's own scope without leaving it (cr_task_unwind). */
cr_end_t cr__scope_judge(cr_scope_t *s, cr_scope_t **to) {
  return judge(s, to);
}

/*
** Whether a walk from above passes c by: a shielded scope hides what is
** below it from `root`, and a scope cancelled itself had its cancel
** delivered below when it came (or when what is below became exposed to
** it: a shield dropped, a task moved in); a task there that parks since
** is aborted at once. So cancelling the scopes of a deep chain one after
** another walks each level once, not once per cancel.
*/
static int deliver_passes(const cr_scope_t *c) {
  return c->shield || c->cancel_called;
}

/*
** Wake every parked task that `root`'s subtree makes cancelled. The walk is
** a pre-order traversal through the intrusive child lists, so it needs no
** stack and allocates nothing. It does not descend into shielded scopes
** nor into scopes cancelled already (deliver_passes). Aborts only unlink
** and queue tasks, so the tree cannot change under the walk; but an abort
** may call out (a C host's op runs its cancel callback, which may cancel
** a scope: see cr_scope_cancel).
*/
static void deliver_walk(cr_scope_t *root) {
  cr_scope_t *s = root;
  for (;;) {
    cr_task_t *t = cr_scope_owner(s);
    s->engine->deliver_steps++;
    /* the next sibling is most often the next child task's own scope */
    cr__prefetch_task_at(s->sibling.next,
                         offsetof(cr_task_t, scope) +
                         offsetof(cr_scope_t, sibling));
    if (t && t->cur == s && t->status == CR_TASK_WAITING)
      cr__task_abort(t);
    /* descend into the first unshielded child */
    cr_queue_t *q = cr__queue_head(&s->children);
    while (q != &s->children &&
           deliver_passes(cr__queue_data(q, cr_scope_t, sibling)))
      q = q->next;
    if (q != &s->children) {
      s = cr__queue_data(q, cr_scope_t, sibling);
      continue;
    }
    /* otherwise the next unshielded sibling, climbing as needed */
    for (;;) {
      if (s == root) return;
      cr_scope_t *p = s->parent;
      q = s->sibling.next;
      while (q != &p->children &&
             deliver_passes(cr__queue_data(q, cr_scope_t, sibling)))
        q = q->next;
      if (q != &p->children) {
        s = cr__queue_data(q, cr_scope_t, sibling);
        break;
      }
      s = p;
    }
  }
}

void cr__scope_deliver(cr_scope_t *root) {
  cr_engine_t *e = root->engine;
  unsigned was = e->delivering;
  e->delivering = 1;
  deliver_walk(root);
  e->delivering = was;
}

/* Whether s sees a scope cancelled already, within a few levels up (a
** deep chain whose levels all cancel, outermost first, has one next
** door): then everything below s had that cancel delivered
** (deliver_passes), and s's own adds nothing to wake. */
static int cancelled_near_above(const cr_scope_t *s) {
  int i;
  for (i = 0; i < 64 && !s->shield && s->parent != NULL; i++) {
    s = s->parent;
    if (s->cancel_called) return 1;
  }
  return 0;
}

int cr_scope_cancel(cr_scope_t *s, cr_source_t source, uint64_t origin,
                    void *reason) {
  cr_engine_t *e = s->engine;
  if (s->cancel_called || s->exited) {
    /* a task's own scope cancelled again (a t:cancel after one the task
    ** caught, or after its group's cancel reached a g:start child): the
    ** first record stays, and the cancel is owed again */
    if (s->is_task && !s->exited) s->cancel_owed = 1;
    cr__release(e, reason);
    return 0;
  }
  s->cancel_called = 1;
  s->cancel_owed = s->is_task;
  s->cancel.source = source;
  s->cancel.origin = origin;
  s->cancel.reason = reason;
  cr__cancel_gen_bump(e);
  if (!s->is_task) cr_timer_stop(e, &s->deadline_);
  CR__EMIT(e, CR_EV_CANCEL, e->current, s, 0, CR_WAIT_NONE, NULL);
  /* A scope cancelled above may still be delivering (this cancel came
  ** from an abort's callback): its walk passes s by now (deliver_passes),
  ** so s delivers its own. */
  if (s->entered && (e->delivering || !cancelled_near_above(s)))
    cr__scope_deliver(s);
  if (s->is_group) cr__group_cancelled((cr_group_t *)s);
  return 1;
}

/* Cancel t's own scope as its group was cancelled, sharing the group's
** record (a g:start child below its starter's scope). */
void cr__scope_cancel_as_group(cr_task_t *t) {
  const cr_scope_t *like = &t->group->scope;
  unsigned owed = t->scope.cancel_owed;     /* a group's cancel owes none */
  if (cr_scope_cancel(&t->scope, (cr_source_t)like->cancel.source,
                      like->cancel.origin, NULL))
    t->scope.as_group = 1;
  t->scope.cancel_owed = owed;
}

/*
** Every change that may make a task cancelled bumps cancel_gen. A task's
** "not cancelled" memo keeps its low 32 bits; before they come round to a
** value a memo may hold again, every memo is forgotten (a walk of the live
** scopes, once per 2^32 bumps), and the sentinel value is skipped.
*/
void cr__cancel_gen_bump(cr_engine_t *e) {
  cr_scope_t *s = NULL;
  if ((uint32_t)++e->cancel_gen != UINT32_MAX) return;
  while ((s = cr_scope_walk(e, NULL, s)) != NULL)
    if (s->is_task) cr_scope_owner(s)->clean_gen = UINT32_MAX;
  e->cancel_gen++;
}

int cr_scope_set_reason(cr_scope_t *s, void *reason) {
  if (!s->cancel_called || !s->entered || s->cancel.reason) {
    cr__release(s->engine, reason);
    return CR_EINVAL;
  }
  s->cancel.reason = reason;
  return 0;
}

static void deadline_cb(cr_timer_t *t) {
  cr_scope_cancel(cr__queue_data(t, cr_scope_t, deadline_), CR_SRC_DEADLINE,
                  0, NULL);
}

void cr_scope_set_shield(cr_scope_t *s, int shield) {
  shield = shield ? 1 : 0;
  if (s->shield == (unsigned)shield) return;
  s->shield = shield;
  if (!s->entered) return;             /* kept, no effect */
  cr__cancel_gen_bump(s->engine);
  /* Dropping a shield may expose an outer cancellation. */
  if (!shield && s->entered && s->parent) {
    cr_scope_t *p;
    for (p = s->parent; p; p = p->parent) {
      if (p->cancel_called) { cr__scope_deliver(s); break; }
      if (p->shield) break;
    }
  }
}

int cr_scope_set_deadline(cr_scope_t *s, double deadline) {
  cr_engine_t *e = s->engine;
  if (deadline != deadline) return CR_EINVAL;             /* NaN */
  if (s->is_task) return isinf(deadline) && deadline > 0 ? 0 : CR_EINVAL;
  if (s->cancel_called || !s->entered) {
    s->deadline_.when = deadline;      /* kept, no effect */
    return 0;
  }
  if (deadline <= cr_now(e)) {
    s->deadline_.when = deadline;
    cr_timer_stop(e, &s->deadline_);
    cr_scope_cancel(s, CR_SRC_DEADLINE, 0, NULL);
    return 0;
  }
  return cr_timer_start(e, &s->deadline_, deadline);
}

int cr_scope_cancel_called(cr_scope_t *s) {
  double now;
  if (!s->cancel_called && s->entered && !s->is_task &&
      cr_timer_armed(&s->deadline_) &&
      s->deadline_.when <= (now = cr_now(s->engine)))
    cr__timers_fire(s->engine, now);   /* as the loop would: those its
                                       ** cancel wakes go ahead */
  return s->cancel_called;
}

void cr__task_reparent(cr_task_t *t, cr_scope_t *parent) {
  cr_scope_t *s = &t->scope;
  if (!s->entered || s->parent == parent) return;
  cr__cancel_gen_bump(t->scope.engine);
  if (cr__queue_linked(&s->sibling)) cr__queue_remove(&s->sibling);
  s->parent = parent;
  if (parent) cr__queue_insert_tail(&parent->children, &s->sibling);
  /* A child that leaves its group's subtree (g:start) must still feel a
  ** cancel the group already had, as a later one reaches it. */
  if (t->group && parent != &t->group->scope &&
      t->group->scope.cancel_called)
    cr__scope_cancel_as_group(t);
  /* The new ancestors may be cancelled already: then everything below the
  ** task's scope that they can see is, the groups it opened included. */
  if (!s->shield && parent && cr_scope_absorber(parent))
    cr__scope_deliver(s);
}

/*
** The outermost cancelled scope that s sees (up to the first shield), or
** NULL. Unwinding a chain of nested groups asks this of each level in turn,
** from the deepest up, each time of the parent of the scope asked before:
** that answer follows from the last one, so a chain thousands deep unwinds
** in linear time. Nothing that changes an answer (a cancel, a shield, a
** reparented task) leaves cancel_gen alone, and an unlinked scope drops the
** memo that names it (cr__scope_unlink).
*/
/*
** The walk itself: up from s to the first shield or the root, or to the
** first group that remembers its answer for the current cancel_gen (its
** answer covers everything above it, and outranks anything below). Every
** group passed on the way remembers its own answer: the outermost
** cancelled scope found, for a group at or below it, else none. So a chain
** of thousands of tasks and groups is walked once per change of
** cancel_gen, not once per task.
*/
static cr_scope_t *walk_up(cr_engine_t *e, cr_scope_t *s) {
  cr_scope_t *found = NULL, *p, *q, *end;
  for (p = s; p; p = p->parent) {
    e->absorb_steps++;
    if (p->is_group && ((cr_group_t *)p)->memo_gen == e->cancel_gen) {
      if (((cr_group_t *)p)->memo_abs) found = ((cr_group_t *)p)->memo_abs;
      break;
    }
    if (p->cancel_called) found = p;
    if (p->shield) {
      p = p->parent;                   /* the shield itself is filled too */
      break;
    }
  }
  end = p;
  for (q = s, p = found; q != end; q = q->parent) {
    if (q->is_group) {
      ((cr_group_t *)q)->memo_abs = p;
      ((cr_group_t *)q)->memo_gen = e->cancel_gen;
    }
    if (q == p) p = NULL;              /* above the outermost: none */
  }
  return found;
}

/* A group's remembered answer about the cancel of sid, or 2: none. */
static int remembered_reach(const cr_scope_t *p, uint64_t sid) {
  const cr_group_t *g = (const cr_group_t *)p;
  if (!p->is_group || g->reach_gen != p->engine->cancel_gen ||
      g->reach_sid != sid)
    return 2;
  return g->reach_memo;
}

/* The answer from a scope with `shields` shielded scopes between it and
** the end of the walk, whose answer was r. */
static int reach_past(int r, unsigned shields) {
  return r == 1 && shields > 0 ? 0 : r;
}

/*
** Up from the task's innermost scope to sid, a shield hiding it on the way
** or not, or past the root: -1. Like walk_up, the walk stops at the first
** group that remembers its answer about sid for the current cancel_gen, and
** every group it passes remembers its own: a tracer asks about every task
** below a cancelled scope, or about one deep task at each of its resumes,
** and a chain thousands deep is walked once per change of cancel_gen and of
** scope asked about, not once per question. (What changes a group's answer
** bumps cancel_gen: a shield set or lowered, a task moved, a scope unlinked
** with scopes still below it. A task entering or leaving a scope moves only
** where its own walks start: the groups above keep their answers.)
*/
int cr_task_reach(const cr_task_t *t, uint64_t sid) {
  /* a task that has ended is asked from its own scope, as it was */
  cr_scope_t *from = t->cur ? t->cur : (cr_scope_t *)&t->scope;
  cr_scope_t *p, *q;
  cr_engine_t *e = t->scope.engine;
  unsigned shields = 0, before = 0;        /* (below p; below q) */
  int r = -1, known;
  for (p = from; p != NULL; p = p->parent) {
    e->reach_steps++;
    if (p->id == sid) { r = 1; break; }
    if ((known = remembered_reach(p, sid)) != 2) { r = known; break; }
    if (p->shield) shields++;
  }
  for (q = from; q != p; q = q->parent) {
    cr_group_t *g = (cr_group_t *)q;
    /* An answer about another cancel, still good, is kept: tasks hidden
    ** from two cancels resuming by turns would otherwise overwrite each
    ** other's at every resume (one keeps its short walks, the other walks
    ** as if nothing were remembered, never worse). */
    if (q->is_group &&
        (g->reach_gen != e->cancel_gen || g->reach_sid == sid)) {
      g->reach_sid = sid;
      g->reach_gen = e->cancel_gen;
      g->reach_memo = reach_past(r, shields - before);
    }
    if (q->shield) before++;
  }
  return reach_past(r, shields);
}

int cr_scope_reaches(const cr_scope_t *s, const cr_task_t *t) {
  return cr_task_reach(t, s->id) == 1;
}

cr_scope_t *cr_scope_absorber(cr_scope_t *s) {
  cr_scope_t *absorber;
  cr_engine_t *e;
  if (s == NULL) return NULL;
  e = s->engine;
  if (e->absorb_gen == e->cancel_gen && s == e->absorb_parent)
    absorber = e->absorb_above;
  else if (e->absorb_gen == e->cancel_gen && s == e->absorb_asked)
    absorber = e->absorb_answer;
  else
    absorber = walk_up(e, s);
  /* s's own answer, for the same question again (a scope's exit asks
  ** about its parent, then the message handler of the pcall the Cancelled
  ** goes on to asks about the task's innermost scope: that same parent)
  ** or for a question about its parent next */
  e->absorb_asked = s;
  e->absorb_answer = absorber;
  e->absorb_parent = s->shield ? NULL : s->parent;
  e->absorb_above = absorber == s ? NULL : absorber;
  e->absorb_gen = e->cancel_gen;
  return absorber;
}

/*
** The walk up the scopes is skipped when nothing was cancelled anywhere in
** the engine since this task was last found clean: entering a scope cannot
** make it cancelled without bumping cancel_gen (an expired deadline cancels
** through cr_scope_cancel), nor can leaving one unless it was a shield
** (cr_scope_exit forgets the task's clean mark), and a lowered shield or a
** reparented task bumps it.
*/
/* The task asks for itself (to raise its Cancelled, or to end a wait): a
** Cancelled it then unwinds is one corral delivered (saw_cancel, judge).
** Observers (the task tree, a tracer) ask with cr_task_cancelled_now,
** which marks nothing. */
static cr_scope_t *asked(cr_task_t *task, cr_scope_t *s) {
  if (s != NULL) {
    task->saw_cancel = 1;
    cr__rejoin_forget(task);       /* it raises: its wait is over */
    reached(task, task->cur, s);
  } else if (task->status == CR_TASK_RUNNING && task->delivered) {
    /* A cancellation point a shield hides its t:cancel from: the cancel
    ** run_ready excused for the wait before is owed for this one. */
    task->scope.cancel_owed = 1;
    task->delivered = 0;
  }
  return s;
}

cr_scope_t *cr_task_cancelled(cr_task_t *task) {
  cr_engine_poll_deadlines(task->scope.engine);
  return asked(task, cr_task_cancelled_now(task));
}

cr_scope_t *cr_task_cancelled_at(cr_task_t *task, double now) {
  cr__poll_deadlines_at(task->scope.engine, now);
  return asked(task, cr_task_cancelled_now(task));
}

cr_scope_t *cr_task_cancelled_now(cr_task_t *task) {
  cr_engine_t *e = task->scope.engine;
  cr_scope_t *s;
  if (task->cur == NULL || task->clean_gen == (uint32_t)e->cancel_gen)
    return NULL;
  s = cr_scope_absorber(task->cur);
  if (s == NULL) task->clean_gen = (uint32_t)e->cancel_gen;
  return s;
}

cr_scope_t *cr_scope_next_child(cr_engine_t *e, cr_scope_t *s,
                                cr_scope_t *prev) {
  cr_queue_t *head = s ? &s->children : &e->roots;
  cr_queue_t *q = prev ? prev->sibling.next : head->next;
  return q == head ? NULL : cr__queue_data(q, cr_scope_t, sibling);
}

cr_scope_t *cr_scope_walk(cr_engine_t *e, cr_scope_t *root, cr_scope_t *s) {
  cr_scope_t *next;
  if (s == NULL) return root ? root : cr_scope_next_child(e, NULL, NULL);
  if ((next = cr_scope_next_child(e, s, NULL)) != NULL) return next;
  for (; s != root; s = s->parent)
    if ((next = cr_scope_next_child(e, s->parent, s)) != NULL) return next;
  return NULL;
}
