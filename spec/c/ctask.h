/*
** ctask.h -- the C tests' tasks each name their own resume function. The
** engine resumes every task through one callback (cr_engine_t.run); this
** one calls the function a task was given, which its data points to.
*/
#ifndef CORRAL_CTASK_H
#define CORRAL_CTASK_H
#include "corral.h"

typedef struct { cr_task_cb fn; } ctask_fn;

static inline void ctask_dispatch(cr_task_t *t) {
  ((const ctask_fn *)t->data)->fn(t);
}

/* Init task t of engine e, resumed by f. */
#define TASK_INIT(e, t, f)                                                  \
  do {                                                                      \
    static const ctask_fn fn_ = {f};                                        \
    cr_engine_t *e_ = (e);                                                  \
    e_->run = ctask_dispatch;                                               \
    cr_task_init(e_, (t), (void *)&fn_);                                    \
  } while (0)

/* Step engine e until nothing is left to run: 0, or what stopped it
** (CR_EDEADLOCK, ...). */
static inline int drain(cr_engine_t *e) {
  int rc;
  while ((rc = cr_engine_step(e, 1)) == 1) {}
  return rc;
}

#endif
