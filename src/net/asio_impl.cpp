// The single translation unit that compiles Asio and Beast (separate compilation keeps every other TU fast).
#include <boost/asio/impl/src.hpp>
#include <boost/beast/src.hpp>
