/*
 * main.c: the konform program. Everything happens in kh_cli so that the
 * command line can be tested without starting a process.
 */
#include "kf/alloc.h"
#include "kh_cli.h"

int main(int argc, char **argv) {
  /* jansson allocates through our wrappers too, so one allocator owns every byte. */
  kf_alloc_install_jansson();
  return kh_cli_main(argc, argv);
}
