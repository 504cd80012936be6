module gatelog

go 1.19
