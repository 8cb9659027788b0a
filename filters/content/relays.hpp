// (in progress) SpamAssassin's trust-path analysis of Received headers.
#pragma once
namespace mxgate {}
