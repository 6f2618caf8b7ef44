// cpp_mail: fetch and send with mailtls.hpp, built by tests/install/run.sh
// from the installed prefix only (its header directory and library).
//
//   MAILTLS_PASSWORD=... cpp_mail fetch HOST PORT USER CA OUT_DIR
//       Implicit TLS; every message saved as OUT_DIR/<uid>.eml; prints
//       "N message(s)".
//   MAILTLS_PASSWORD=... cpp_mail send HOST PORT USER CA FROM TO FILE
//       STARTTLS and AUTH; prints "ADDRESS: accepted|refused CODE ENHANCED".
#include "mailtls.hpp"

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

int main(int argc, char **argv)
{
	const char *password = std::getenv("MAILTLS_PASSWORD");
	std::string mode = argc > 1 ? argv[1] : "";
	if (password == nullptr || !((mode == "fetch" && argc == 7) || (mode == "send" && argc == 9))) {
		std::cerr << "usage: MAILTLS_PASSWORD=... cpp_mail fetch HOST PORT USER CA OUT_DIR\n"
			     "       MAILTLS_PASSWORD=... cpp_mail send HOST PORT USER CA FROM TO FILE\n";
		return 2;
	}
	auto port = static_cast<std::uint16_t>(std::strtoul(argv[3], nullptr, 10));
	try {
		mailtls::Options options;
		options.add_ca_file(argv[5]);
		if (mode == "fetch") {
			options.security(mailtls::Security::Tls);
			mailtls::Pop3 pop3(options);
			pop3.connect(argv[2], port);
			pop3.login(argv[4], password);
			auto messages = pop3.list_uidl();
			std::cout << messages.size() << " message(s)\n";
			for (const auto &m : messages) {
				std::ofstream(std::string(argv[6]) + "/" + m.uid + ".eml", std::ios::binary)
					<< pop3.retr(m.number);
			}
			pop3.quit();
		} else {
			options.security(mailtls::Security::StartTls);
			mailtls::Smtp smtp(options);
			smtp.connect(argv[2], port);
			smtp.login(argv[4], password);
			std::ostringstream message;
			message << std::ifstream(argv[8], std::ios::binary).rdbuf();
			for (const auto &r : smtp.send(argv[6], {argv[7]}, message.str())) {
				std::cout << r.address << ": " << (r.accepted ? "accepted " : "refused ") << r.code << " "
					  << r.enhanced << "\n";
			}
			smtp.quit();
		}
		return 0;
	} catch (const mailtls::Error &e) {
		std::cerr << "cpp_mail: " << e.what() << "\n";
		return 1;
	}
}
