/*
 * pop3_fetch: list a POP3 mailbox over verified TLS with mailtls.hpp and
 * retrieve every message, printing its number, its size as retrieved and
 * its unique id. Messages stay on the server (nothing is deleted).
 *
 *   MAILTLS_PASSWORD=secret pop3_fetch HOST PORT USER [--ca-file PEM] [--tls]
 *
 * The password comes from the environment variable MAILTLS_PASSWORD, never
 * from the command line (where other users could read it with ps). Port
 * 995 means implicit TLS; any other port plain POP3 upgraded with STLS,
 * which must succeed; --tls asks for implicit TLS on another port.
 * --ca-file trusts an extra CA besides the system store.
 *
 * Build, from the repository root, after `cargo build --release`:
 *
 *   g++ -std=c++17 -Wall -Wextra -O2 -I include -I bindings/cpp -o pop3_fetch \
 *       examples/cpp/pop3_fetch.cpp -L target/release -lmailtls -Wl,-rpath,"$PWD/target/release"
 *
 * Installed, mailtls.hpp sits beside mailtls.h and only the library's
 * include directory is needed.
 */
#include "mailtls.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char **argv)
{
	if (argc < 4) {
		std::cerr << "usage: pop3_fetch HOST PORT USER [--ca-file PEM] [--tls]\n"
			     "The password is read from the environment variable MAILTLS_PASSWORD.\n";
		return 2;
	}
	const char *password = std::getenv("MAILTLS_PASSWORD");
	if (password == nullptr) {
		std::cerr << "pop3_fetch: set MAILTLS_PASSWORD to the password\n";
		return 2;
	}
	std::string host = argv[1], user = argv[3];
	unsigned long port = std::strtoul(argv[2], nullptr, 10);
	if (port == 0 || port > 65535) {
		std::cerr << "pop3_fetch: not a port: " << argv[2] << "\n";
		return 2;
	}

	try {
		mailtls::Options options;
		for (int i = 4; i < argc; i++) {
			std::string arg = argv[i];
			if (arg == "--ca-file" && i + 1 < argc) {
				options.add_ca_file(argv[++i]);
			} else if (arg == "--tls") {
				options.security(mailtls::Security::Tls);
			} else {
				std::cerr << "pop3_fetch: unknown argument " << arg << "\n";
				return 2;
			}
		}

		mailtls::Pop3 pop3(options);
		pop3.connect(host, static_cast<std::uint16_t>(port));
		pop3.login(user, password);
		auto messages = pop3.list_uidl();
		std::cout << messages.size() << " message(s)\n";
		for (const auto &m : messages) {
			std::string message = pop3.retr(m.number);
			std::cout << m.number << " " << message.size() << " " << m.uid << "\n";
		}
		pop3.quit();
		return 0;
	} catch (const mailtls::Error &e) {
		// what() is the library's message (with the server's reply when there
		// was one); it never contains the password.
		std::cerr << "pop3_fetch: " << e.what() << "\n";
		return 1;
	}
}
