/*
 * version_check: the header a program was compiled with and the library it
 * loaded are the same version. Prints both; exits 1 on a mismatch.
 * Built by tests/install/run.sh from the installed prefix only.
 */
#include <stdio.h>
#include <string.h>

#include "mailtls.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

int main(void)
{
	const char *loaded = mailtls_version();
	const char *numbers = STRINGIFY(MAILTLS_VERSION_MAJOR) "." STRINGIFY(MAILTLS_VERSION_MINOR) "." STRINGIFY(
		MAILTLS_VERSION_PATCH);

	printf("header %s (%s), library %s\n", MAILTLS_VERSION_STRING, numbers, loaded);
	if (strcmp(numbers, MAILTLS_VERSION_STRING) != 0) {
		fprintf(stderr, "version_check: MAILTLS_VERSION_STRING disagrees with the version numbers\n");
		return 1;
	}
	if (strcmp(loaded, MAILTLS_VERSION_STRING) != 0) {
		fprintf(stderr, "version_check: the header is %s but the loaded library is %s\n",
			MAILTLS_VERSION_STRING, loaded);
		return 1;
	}
	return 0;
}
