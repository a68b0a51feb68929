file(REMOVE_RECURSE
  "libcorral_engine.a"
)
