// The generated header must compile as C++ (cbindgen's cpp_compat: the
// extern "C" block) and link: run.sh builds this with g++ -std=c++11
// -Wall -Wextra -Wpedantic -Werror and runs it.
#include "mailtls.h"

#include <cstdio>
#include <cstring>

int main()
{
	const char *version = mailtls_version();
	mailtls_result rc = MAILTLS_RESULT_OK;
	if (version == nullptr || std::strlen(version) == 0 || rc != 0) {
		std::printf("FAIL header_cpp\n");
		return 1;
	}
	std::printf("PASS header_cpp: mailtls %s\n", version);
	return 0;
}
