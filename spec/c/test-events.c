/*
** test-events.c -- the engine's event hook and cancel records, pinned on a
** small program: a root task opens a group, spawns a child that sleeps,
** sleeps itself, cancels the group with a reason handle and joins it.
*/
#include <stdio.h>
#include <string.h>
#include "ctask.h"

#define CHECK(c) do { if (!(c)) { \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
  return 1; } } while (0)

typedef struct {
  cr_task_t t;
  char name;
  int step;
} etask;

typedef struct {
  char log[1024];
  size_t len;
  int released;
  void *released_what;
} world;

static cr_group_t G;
static etask root, child;
static cr_end_t close_end;
static char reason_handle = 'r';

static const char *kind_name(cr_event_kind_t k) {
  static const char *const n[] = {"spawn", "run", "suspend", "park", "wake",
                                  "cancel", "fail", "done"};
  return n[k];
}

static void on_event(cr_engine_t *e, const cr_engine_event_t *ev) {
  world *w = e->data;
  char who = ev->task ? ((etask *)ev->task)->name : '-';
  char extra[48] = "";
  if (ev->kind == CR_EV_PARK)
    snprintf(extra, sizeof extra, ":%s", cr_wait_name(ev->wait));
  else if (ev->kind == CR_EV_CANCEL)
    snprintf(extra, sizeof extra, ":%s", cr_source_name(ev->scope->cancel.source));
  else if (ev->kind == CR_EV_WAKE && ev->status)
    snprintf(extra, sizeof extra, ":aborted");
  w->len += (size_t)snprintf(w->log + w->len, sizeof w->log - w->len, "%s%s%c%s",
                             w->len ? " " : "", kind_name(ev->kind), who, extra);
}

static void on_release(cr_engine_t *e, void *reason) {
  world *w = e->data;
  w->released++;
  w->released_what = reason;
}

static void child_run(cr_task_t *t) {
  etask *c = (etask *)t;
  if (c->step++ == 0) {
    cr_task_sleep(t, 2);
    return;
  }
  /* woken by the cancel: its Cancelled goes on to the group */
  if (cr_task_unwind(t, NULL) != CR_END_PASSED) c->name = '!';
  cr_task_done(t, CR_TASK_CANCELLED);
}

static void root_run(cr_task_t *t) {
  etask *r = (etask *)t;
  static const cr_group_opts_t o = {0, 0, 0, 0, 1e300};
  if (r->step == 0) {
    r->step = 1;
    cr_group_init(t, &G, &o);
    cr_group_spawn(&G, &child.t);
    cr_task_sleep(t, 1);
    return;
  }
  if (r->step == 1) {
    r->step = 2;
    cr_scope_cancel(&G.scope, CR_SRC_EXPLICIT, t->scope.id, &reason_handle);
    cr_group_body_done(&G, CR_END_NORMAL);
    if (cr_group_join(&G)) return;
  }
  close_end = cr_group_close(&G, NULL);
  cr_task_done(t, CR_TASK_DONE);
}

int main(void) {
  cr_engine_t e;
  world w = {{0}, 0, 0, NULL};
  const char *want =
    "spawnR runR spawnC parkR:sleep suspendR runC parkC:sleep suspendC "
    "wakeR runR cancelR:explicit wakeC:aborted parkR:children suspendR "
    "runC doneC wakeR suspendC runR doneR suspendR";
  CHECK(cr_engine_init(&e, NULL, CR_CLOCK_VIRTUAL) == 0);
  e.data = &w;
  e.on_event = on_event;
  e.release = on_release;
  TASK_INIT(&e, &root.t, root_run);
  TASK_INIT(&e, &child.t, child_run);
  root.name = 'R';
  child.name = 'C';
  cr_task_start_root(&root.t);
  while (cr_engine_step(&e, 1) == 1) {}
  if (strcmp(w.log, want) != 0) {
    fprintf(stderr, "events:\n  got  %s\n  want %s\n", w.log, want);
    return 1;
  }
  CHECK(child.name == 'C');                     /* the child's Cancelled passed */
  CHECK(close_end == CR_END_ABSORBED);          /* the group caught it */
  CHECK(G.scope.cancel_called && G.scope.cancel_caught);
  CHECK(G.scope.cancel.origin == root.t.scope.id);
  CHECK(w.released == 1 && w.released_what == &reason_handle);
  CHECK(G.scope.cancel.reason == NULL);         /* given back at exit */
  CHECK(child.t.status == CR_TASK_CANCELLED && root.t.status == CR_TASK_DONE);
  CHECK(cr_engine_close(&e) == 0);
  printf("ok   event sequence and cancel record of a small program\n");
  return 0;
}
