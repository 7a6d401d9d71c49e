// The spamguard milter daemon. (Built in issue 6.)
print("spamguard: the daemon is not built yet")
