"""Sign-in with GitHub, WeChat, QQ and Weibo; linking providers to an account."""
